/**
 * The shared cacher: Moleculer's Redis cacher with adaptive TTLs (policy.ts), version-guarded
 * fills and write-throughs. A Redis outage is never an error: reads fall through, writes and
 * cleans are skipped, and recovery empties the cache before it is used again.
 */
import { Cachers, type ServiceBroker } from "moleculer";
import { CoalescedReads } from "./coalesced-reads";
import { AccessTracker, adaptiveTtl, serviceOfKey } from "./policy";
import { FILL_IF_VERSION, RETIRE, WRITE_IF_NEWER, redisOptions, type CacheClient } from "./redis-scripts";
import { freshVersion, guardedRead, type CacheOptions, type GuardedCacher, type VersionedRecord } from "./versions";

/** How long to leave Redis alone after a failure before trying it again. */
const RECOVERY_PAUSE_MS = 500;

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

export class ResilientRedisCacher extends Cachers.Redis implements GuardedCacher {
	private readonly access = new AccessTracker();
	private readonly knownServices = new Set<string>();
	/** Every read of a version (one per near-cache hit on a gateway) shares its round trip with those asked meanwhile. */
	private readonly versionReads = new CoalescedReads<string | undefined>(service => this.readVersion(service));
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
		return this.versionReads.read(service);
	}

	private async readVersion(service: string): Promise<string | undefined> {
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
