/**
 * The broker's cacher: Moleculer's Memory or Redis cacher with adaptive TTLs (policy.ts),
 * a cache version per service, fills guarded by it (`guardedRead`) and write-throughs that
 * only ever replace a record with a newer version (`writeThrough`). A Redis outage is never
 * an error: reads fall through, writes and cleans are skipped.
 */
import { randomInt } from "node:crypto";
import { Cachers, type ServiceBroker } from "moleculer";
import type { Redis, RedisOptions } from "ioredis";
import { AccessTracker, adaptiveTtl, serviceOfKey } from "./policy";

export interface VersionedCacher {
	/** The current cache version of a service; undefined when it cannot be known now. */
	version(service: string): Promise<string | undefined>;
	/** Marks every cached answer of a service as outdated. */
	bumpVersion(service: string): Promise<void>;
	/** Outdates the key's service and caches `record` unless a newer version of it is cached (or it was retired since). */
	writeThrough<T extends VersionedRecord>(key: string, record: T, ttl: number): Promise<void>;
	/** Outdates the key's service and drops its record for good: for `ttl` seconds no write-through up to `version` lands. */
	retire(key: string, version: number, ttl: number): Promise<void>;
	getCacheKey(action: unknown, opts: unknown, ctx: unknown): string;
}

/** A record that carries its own version (a row version, incremented by every change). */
export interface VersionedRecord {
	version: number;
}

/** The parts of a cacher `guardedRead` works with. */
export interface GuardedCacher extends VersionedCacher {
	opts: { missingResponse?: unknown };
	get(key: string): Promise<unknown>;
	lock(key: string, ttl?: number): Promise<() => Promise<unknown>>;
	/** Caches `data` if the service's version is still `seen`, checked and written in one step. */
	fill(key: string, data: unknown, ttl: number | undefined, seen: string): Promise<void>;
}

interface CacheOptions {
	ttl?: number;
	lock?: { enabled?: boolean; ttl?: number };
}

/**
 * Moleculer's cache-aside read (both with and without the key's lock), except that the
 * service's version is read before the handler reads the database and the answer is
 * cached only while that version holds.
 */
async function guardedRead(cacher: GuardedCacher, ctx: { cachedResult?: boolean }, key: string, handler: (ctx: unknown) => Promise<unknown>, opts: CacheOptions) {
	const cached = (found: unknown) => {
		ctx.cachedResult = true;
		return found;
	};
	const hit = await cacher.get(key);
	if (hit !== cacher.opts.missingResponse) return cached(hit);
	const unlock = opts.lock?.enabled === false ? undefined : await cacher.lock(key, opts.lock?.ttl);
	try {
		if (unlock) {
			const filledMeanwhile = await cacher.get(key);
			if (filledMeanwhile !== cacher.opts.missingResponse) return cached(filledMeanwhile);
		}
		const seen = await cacher.version(serviceOfKey(key));
		const result = await handler(ctx);
		// Like Moleculer, the answer does not wait for the cache; the lock is held until it is filled.
		if (seen !== undefined) void cacher.fill(key, result, opts.ttl, seen).finally(() => unlock?.());
		else void unlock?.();
		return result;
	} catch (err) {
		await unlock?.();
		throw err;
	}
}

/** Whether `record` may replace `held`: it is newer, or what is held carries no version. */
const supersedes = (record: VersionedRecord, held: unknown) =>
	!(typeof held === "object" && held !== null && typeof (held as VersionedRecord).version === "number" && (held as VersionedRecord).version >= record.version);

/** Retired keys a Memory cacher keeps before it forgets the expired ones. */
const MAX_RETIRED = 10_000;

/** How long to leave Redis alone after a failure before trying it again. */
const RECOVERY_PAUSE_MS = 500;

/** A version nobody used before, so a restarted store never revives old tags. */
const freshVersion = () => `${Date.now().toString(36)}-${randomInt(2 ** 40).toString(36)}`;

export class PolicyMemoryCacher extends Cachers.Memory implements GuardedCacher {
	private readonly access = new AccessTracker();
	private readonly versions = new Map<string, string>();
	/** Keys retired lately, with the last version they had. */
	private readonly retired = new Map<string, { version: number; until: number }>();
	declare cache: Map<string, { data: unknown; expire: number | null }>;

	override middlewareWithLock(ctx: object, key: string, handler: (ctx: unknown) => Promise<unknown>, opts: CacheOptions) {
		return guardedRead(this, ctx, key, handler, opts);
	}

	override middlewareWithoutLock(ctx: object, key: string, handler: (ctx: unknown) => Promise<unknown>, opts: CacheOptions) {
		return guardedRead(this, ctx, key, handler, { ...opts, lock: { enabled: false } });
	}

	override get(key: string) {
		this.access.touch(key);
		return super.get(key);
	}

	override set(key: string, data: unknown, ttl?: number) {
		return super.set(key, data, ttl ? adaptiveTtl(ttl, this.access.reads(key)) : ttl);
	}

	async fill(key: string, data: unknown, ttl: number | undefined, seen: string) {
		if (this.versions.get(serviceOfKey(key)) === seen) await this.set(key, data, ttl);
	}

	override async clean(match: string | string[] = "**") {
		for (const pattern of Array.isArray(match) ? match : [match]) {
			const service = serviceOfKey(pattern);
			// "**" (Moleculer cleans everything after a reconnect) outdates every service.
			if (service.includes("*")) this.versions.clear();
			else this.bump(service);
		}
		await super.clean(match);
	}

	async writeThrough<T extends VersionedRecord>(key: string, record: T, ttl: number) {
		this.bump(serviceOfKey(key));
		const gone = this.retired.get(key);
		if (gone && gone.until > Date.now() && gone.version >= record.version) return;
		const held = this.cache.get(key);
		const live = held && (held.expire === null || held.expire > Date.now()) ? held.data : undefined;
		if (supersedes(record, live)) await this.set(key, record, ttl);
	}

	async retire(key: string, version: number, ttl: number) {
		this.bump(serviceOfKey(key));
		const now = Date.now();
		if (this.retired.size >= MAX_RETIRED) for (const [k, gone] of this.retired) if (gone.until <= now) this.retired.delete(k);
		this.retired.set(key, { version, until: now + ttl * 1000 });
		await this.del(key);
	}

	async version(service: string) {
		return this.currentVersion(service);
	}

	async bumpVersion(service: string) {
		this.bump(service);
	}

	/** In the same step as what it guards: a fill checks the version without awaiting anything. */
	private bump(service: string): void {
		this.versions.set(service, freshVersion());
	}

	private currentVersion(service: string): string {
		if (!this.versions.has(service)) this.versions.set(service, freshVersion());
		return this.versions.get(service)!;
	}
}

/** ioredis options from a redis:// URL that fail fast instead of queueing while Redis is away. */
export function redisOptions(url: string): RedisOptions {
	const parsed = new URL(url);
	return {
		host: parsed.hostname,
		port: Number(parsed.port || 6379),
		username: parsed.username || undefined,
		password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
		db: parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0,
		tls: parsed.protocol === "rediss:" ? {} : undefined,
		enableOfflineQueue: false,
		maxRetriesPerRequest: 0,
		commandTimeout: 1000,
		connectTimeout: 2000,
		retryStrategy: times => Math.min(times * 200, 2000),
		enableAutoPipelining: true
	};
}

/**
 * A lock's key can be gone before it is released (a clean of the service's keys sweeps
 * lock keys too, or Redis restarted); releasing it then is a no-op, not an error that
 * would surface as an unhandled rejection in Moleculer's cacher middleware.
 */
function quietUnlock(unlock: () => Promise<unknown>): () => Promise<void> {
	return () => unlock().then(
		() => undefined,
		() => undefined
	);
}

/** KEYS: service version, cache key. ARGV: the version seen at the miss, data, ttl (0: none). */
const FILL_IF_VERSION = `
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[3]) > 0 then redis.call("SET", KEYS[2], ARGV[2], "EX", ARGV[3]) else redis.call("SET", KEYS[2], ARGV[2]) end
return 1`;

/**
 * KEYS: service version, cache key, the key's retirement. ARGV: a new service version,
 * data, ttl (0: none), the record's version. It reads the held record's version with
 * cjson: the cacher keeps its default JSON serializer.
 */
const WRITE_IF_NEWER = `
redis.call("SET", KEYS[1], ARGV[1])
local retired = redis.call("GET", KEYS[3])
if retired and tonumber(retired) >= tonumber(ARGV[4]) then return 0 end
local held = redis.call("GET", KEYS[2])
if held then
  local ok, value = pcall(cjson.decode, held)
  if ok and type(value) == "table" and type(value.version) == "number" and value.version >= tonumber(ARGV[4]) then return 0 end
end
if tonumber(ARGV[3]) > 0 then redis.call("SET", KEYS[2], ARGV[2], "EX", ARGV[3]) else redis.call("SET", KEYS[2], ARGV[2]) end
return 1`;

/** KEYS: service version, cache key, the key's retirement. ARGV: a new service version, the last version, ttl. */
const RETIRE = `
redis.call("SET", KEYS[1], ARGV[1])
redis.call("SET", KEYS[3], ARGV[2], "EX", ARGV[3])
redis.call("DEL", KEYS[2])
return 1`;

type Arg = string | number | Buffer;
interface CacheClient extends Redis {
	fillIfVersion(versionKey: string, key: string, seen: string, data: Arg, ttl: number): Promise<number>;
	writeIfNewer(versionKey: string, key: string, retiredKey: string, newVersion: string, data: Arg, ttl: number, recordVersion: number): Promise<number>;
	retireKey(versionKey: string, key: string, retiredKey: string, newVersion: string, version: number, ttl: number): Promise<number>;
}

export class ResilientRedisCacher extends Cachers.Redis implements GuardedCacher {
	private readonly access = new AccessTracker();
	private readonly knownServices = new Set<string>();
	/** Set by any failed command; while set, Redis is left alone until it has been emptied. */
	private wasDown = false;
	/** A change (a clean, a write-through) was skipped because Redis could not be used. */
	private missedChange = false;
	declare client: CacheClient;
	declare serializer: { serialize(data: unknown): Buffer };

	constructor(
		url: string,
		private readonly versionPrefix: string,
		options: Record<string, unknown> = {}
	) {
		// Few lock retries: a read waits for a concurrent one to fill the cache, not for Redis.
		super({ redis: redisOptions(url) as never, redlock: { retryCount: 3, retryDelay: 100, retryJitter: 50 }, ...options });
	}

	override init(broker: ServiceBroker) {
		super.init(broker);
		this.client.on("error", () => this.failed());
		// Connected (first, or again without an error): changes skipped meanwhile are made up for.
		this.client.on("ready", () => {
			if (this.missedChange && !this.wasDown) this.failed();
		});
		this.client.defineCommand("fillIfVersion", { numberOfKeys: 2, lua: FILL_IF_VERSION });
		this.client.defineCommand("writeIfNewer", { numberOfKeys: 3, lua: WRITE_IF_NEWER });
		this.client.defineCommand("retireKey", { numberOfKeys: 3, lua: RETIRE });
	}

	override middlewareWithLock(ctx: object, key: string, handler: (ctx: unknown) => Promise<unknown>, opts: CacheOptions) {
		return guardedRead(this, ctx, key, handler, opts);
	}

	override middlewareWithoutLock(ctx: object, key: string, handler: (ctx: unknown) => Promise<unknown>, opts: CacheOptions) {
		return guardedRead(this, ctx, key, handler, { ...opts, lock: { enabled: false } });
	}

	/**
	 * Whether Redis may be used now: not while it is failing or recovering, nor while it is
	 * not connected. A change skipped here is made up for by the recovery.
	 */
	private usable(change = false): boolean {
		if (!this.wasDown && this.client.status === "ready") return true;
		if (change) this.missedChange = true;
		return false;
	}

	/**
	 * After any failure (a lost connection, or commands timing out while Redis is stalled)
	 * the cache is left alone: reads go straight to the services at once. In the
	 * background, cleans that may have been missed are made up for by emptying everything
	 * and outdating every near-cached answer; only then is the cache used again.
	 */
	private failed(): void {
		if (this.wasDown) return;
		this.wasDown = true;
		const recover = async () => {
			try {
				// Until a pass sees no change skipped meanwhile. Versions before the delete: a fill
				// in flight anywhere is refused from then on, so none survives the delete.
				do {
					this.missedChange = false;
					for (const service of this.knownServices) await this.client.set(this.versionKey(service), freshVersion());
					await super.clean("**");
				} while (this.missedChange);
				this.wasDown = false;
				this.logger.info("Redis answers again: the cache was emptied and is in use again.");
			} catch {
				setTimeout(() => void recover(), RECOVERY_PAUSE_MS).unref();
			}
		};
		this.logger.warn("Redis failed: reads go to the databases until it answers again.");
		setTimeout(() => void recover(), RECOVERY_PAUSE_MS).unref();
	}

	override async get(key: string) {
		this.access.touch(key);
		if (!this.usable()) return this.opts.missingResponse;
		try {
			return await super.get(key);
		} catch {
			this.failed();
			return this.opts.missingResponse;
		}
	}

	override async set(key: string, data: unknown, ttl?: number) {
		if (!this.usable()) return undefined;
		try {
			return await super.set(key, data, this.ttlOf(key, ttl) || undefined);
		} catch {
			this.failed();
			return undefined;
		}
	}

	async fill(key: string, data: unknown, ttl: number | undefined, seen: string) {
		if (!this.usable()) return;
		try {
			await this.client.fillIfVersion(this.versionKey(serviceOfKey(key)), this.prefix + key, seen, this.serializer.serialize(data), this.ttlOf(key, ttl));
		} catch {
			this.failed();
		}
	}

	async writeThrough<T extends VersionedRecord>(key: string, record: T, ttl: number) {
		const service = serviceOfKey(key);
		this.knownServices.add(service);
		if (!this.usable(true)) return;
		try {
			await this.client.writeIfNewer(
				this.versionKey(service),
				this.prefix + key,
				this.retiredKey(key),
				freshVersion(),
				this.serializer.serialize(record),
				this.ttlOf(key, ttl),
				record.version
			);
		} catch {
			this.failed();
		}
	}

	async retire(key: string, version: number, ttl: number) {
		const service = serviceOfKey(key);
		this.knownServices.add(service);
		if (!this.usable(true)) return;
		try {
			await this.client.retireKey(this.versionKey(service), this.prefix + key, this.retiredKey(key), freshVersion(), version, ttl);
		} catch {
			this.failed();
		}
	}

	private ttlOf(key: string, ttl?: number): number {
		const base = ttl ?? this.opts.ttl;
		return base ? adaptiveTtl(base, this.access.reads(key)) : 0;
	}

	private versionKey(service: string): string {
		return `${this.versionPrefix}${service}`;
	}

	/** Outside the service's keys, so a clean of the service does not forget a retirement. */
	private retiredKey(key: string): string {
		return `${this.versionPrefix}retired:${key}`;
	}

	override async del(keys: string | string[]) {
		if (!this.usable(true)) return undefined;
		try {
			return await super.del(keys);
		} catch {
			this.failed();
			return undefined;
		}
	}

	override async clean(match: string | string[] = "**") {
		// While Redis is away a clean is missed on purpose: recovery empties everything.
		if (!this.usable(true)) return;
		// The version first: a fill in flight is refused from here on, so none survives the delete.
		for (const pattern of Array.isArray(match) ? match : [match]) {
			const service = serviceOfKey(pattern);
			if (service.includes("*")) for (const known of this.knownServices) await this.bumpVersion(known);
			else await this.bumpVersion(service);
		}
		try {
			await super.clean(match);
		} catch {
			this.failed();
		}
	}

	override async lock(key: string, ttl?: number) {
		// Without Redis there is no shared lock; going on unlocked beats failing the read.
		if (!this.usable()) return async () => undefined;
		try {
			return quietUnlock(await super.lock(key, ttl));
		} catch (err) {
			// Still held by a slow reader elsewhere (redlock's LockError) is contention, not an outage.
			if ((err as Error).name !== "LockError") this.failed();
			return async () => undefined;
		}
	}

	override async tryLock(key: string, ttl?: number) {
		return quietUnlock(await super.tryLock(key, ttl));
	}

	async version(service: string) {
		this.knownServices.add(service);
		if (!this.usable()) return undefined;
		const key = this.versionKey(service);
		try {
			const current = await this.client.get(key);
			if (current !== null) return current;
			await this.client.set(key, freshVersion(), "NX");
			return (await this.client.get(key)) ?? undefined;
		} catch {
			this.failed();
			return undefined;
		}
	}

	async bumpVersion(service: string) {
		this.knownServices.add(service);
		if (!this.usable(true)) return;
		try {
			await this.client.set(this.versionKey(service), freshVersion());
		} catch {
			this.failed();
		}
	}
}

/** Whether the cache is a copy per node (Memory): other nodes must be told to clean theirs after a change. */
export function keptPerNode(cacher: unknown): cacher is PolicyMemoryCacher {
	return cacher instanceof PolicyMemoryCacher;
}

/** The Redis connection the cache shares across nodes; undefined when the cache is per node or off. */
export function sharedRedis(cacher: unknown): Redis | undefined {
	return cacher instanceof ResilientRedisCacher ? cacher.client : undefined;
}
