/**
 * The broker's cacher: Moleculer's Memory or Redis cacher with the product's policies.
 * - A Redis outage never becomes an error: reads fall through to the handler, writes and
 *   cleans are skipped, and when Redis answers again everything cached is dropped (cleans
 *   may have been missed meanwhile) before it is used again.
 * - TTLs adapt to how often a key is read, with jitter (cache-policy.ts).
 * - Each service has a cache version, bumped by every clean. The gateway's near cache
 *   (near-cache.middleware.ts) keeps answers tagged with it, so one cheap version read
 *   tells it whether an answer is still current without crossing to the service.
 */
import { randomInt } from "node:crypto";
import { Cachers, type ServiceBroker } from "moleculer";
import type { RedisOptions } from "ioredis";
import { AccessTracker, adaptiveTtl, serviceOfKey } from "./cache-policy";

export interface VersionedCacher {
	/** The current cache version of a service; undefined when it cannot be known now. */
	version(service: string): Promise<string | undefined>;
	/** Marks every cached answer of a service as outdated. */
	bumpVersion(service: string): Promise<void>;
	getCacheKey(action: unknown, opts: unknown, ctx: unknown): string;
}

/** How long to leave Redis alone after a failure before trying it again. */
const RECOVERY_PAUSE_MS = 500;

/** A version nobody used before, so a restarted store never revives old tags. */
const freshVersion = () => `${Date.now().toString(36)}-${randomInt(2 ** 40).toString(36)}`;

export class PolicyMemoryCacher extends Cachers.Memory implements VersionedCacher {
	private readonly access = new AccessTracker();
	private readonly versions = new Map<string, string>();

	override get(key: string) {
		this.access.touch(key);
		return super.get(key);
	}

	override set(key: string, data: unknown, ttl?: number) {
		return super.set(key, data, ttl ? adaptiveTtl(ttl, this.access.reads(key)) : ttl);
	}

	override async clean(match: string | string[] = "**") {
		await super.clean(match);
		for (const pattern of Array.isArray(match) ? match : [match]) {
			const service = serviceOfKey(pattern);
			// "**" (Moleculer cleans everything after a reconnect) outdates every service.
			if (service.includes("*")) this.versions.clear();
			else await this.bumpVersion(service);
		}
	}

	async version(service: string) {
		if (!this.versions.has(service)) this.versions.set(service, freshVersion());
		return this.versions.get(service);
	}

	async bumpVersion(service: string) {
		this.versions.set(service, freshVersion());
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

export class ResilientRedisCacher extends Cachers.Redis implements VersionedCacher {
	private readonly access = new AccessTracker();
	private readonly knownServices = new Set<string>();
	/** Set by any failed command; while set, Redis is left alone until it has been emptied. */
	private wasDown = false;
	declare client: import("ioredis").Redis;

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
				await super.clean("**");
				for (const service of this.knownServices) await this.client.set(`${this.versionPrefix}${service}`, freshVersion());
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
		if (this.wasDown) return this.opts.missingResponse;
		try {
			return await super.get(key);
		} catch {
			this.failed();
			return this.opts.missingResponse;
		}
	}

	override async set(key: string, data: unknown, ttl?: number) {
		if (this.wasDown) return undefined;
		try {
			return await super.set(key, data, ttl ? adaptiveTtl(ttl, this.access.reads(key)) : ttl);
		} catch {
			this.failed();
			return undefined;
		}
	}

	override async del(keys: string | string[]) {
		if (this.wasDown) return undefined;
		try {
			return await super.del(keys);
		} catch {
			this.failed();
			return undefined;
		}
	}

	override async clean(match: string | string[] = "**") {
		// While Redis is away a clean is missed on purpose: recovery empties everything.
		if (this.wasDown) return;
		try {
			await super.clean(match);
		} catch {
			this.failed();
			return;
		}
		for (const pattern of Array.isArray(match) ? match : [match]) {
			const service = serviceOfKey(pattern);
			if (service.includes("*")) for (const known of this.knownServices) await this.bumpVersion(known);
			else await this.bumpVersion(service);
		}
	}

	override async lock(key: string, ttl?: number) {
		// Without Redis there is no shared lock; going on unlocked beats failing the read.
		if (this.wasDown) return async () => undefined;
		try {
			return quietUnlock(await super.lock(key, ttl));
		} catch {
			this.failed();
			return async () => undefined;
		}
	}

	override async tryLock(key: string, ttl?: number) {
		return quietUnlock(await super.tryLock(key, ttl));
	}

	async version(service: string) {
		this.knownServices.add(service);
		if (this.wasDown) return undefined;
		const key = `${this.versionPrefix}${service}`;
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
		if (this.wasDown) return;
		try {
			await this.client.set(`${this.versionPrefix}${service}`, freshVersion());
		} catch {
			this.failed();
		}
	}
}
