/**
 * Rate limiting per API key (RATE_LIMIT requests per minute). moleculer-web counts per
 * node; with the Redis cacher the count lives in Redis, in fixed windows aligned to the
 * clock, so every gateway node counts against the same budget. If Redis is away the
 * limit is only enforced per node rather than failing requests.
 */
import type { ServiceBroker } from "moleculer";
import type { Redis } from "ioredis";
import { sharedRedis } from "../../lib/cache/capabilities";

export class RedisRateLimitStore {
	resetTime = 0;
	private readonly redis: Redis;
	private readonly prefix: string;
	/** Per key in the current window: the cluster-wide count last seen, and hits not yet sent. */
	private counts = new Map<string, { shared: number; pending: number }>();
	private window = -1;
	private flushing?: Promise<void>;

	constructor(
		private readonly windowMs: number,
		_options: unknown,
		broker: ServiceBroker
	) {
		// Only offered by rateLimitStoreFor when the cache is shared through Redis.
		this.redis = sharedRedis(broker.cacher)!;
		this.prefix = `pi-ratelimit:${broker.namespace}:`;
	}

	/**
	 * Counts a hit and returns the cluster-wide count as best known: this node's hits are
	 * sent to Redis in batches (every 50 ms), so a request costs no Redis round trip and
	 * every gateway still counts against the same budget (within one batch of lag).
	 */
	inc(key: string): number {
		const window = Math.floor(Date.now() / this.windowMs);
		if (window !== this.window) {
			this.window = window;
			this.counts = new Map();
			this.resetTime = (window + 1) * this.windowMs;
		}
		const count = this.counts.get(key) ?? { shared: 0, pending: 0 };
		count.pending++;
		this.counts.set(key, count);
		this.flushing ??= new Promise<void>(resolve => setTimeout(resolve, FLUSH_MS)).then(() => this.flush());
		return count.shared + count.pending;
	}

	private async flush(): Promise<void> {
		const window = this.window;
		const batch = [...this.counts].filter(([, c]) => c.pending > 0).map(([key, count]) => ({ key, count, sent: count.pending }));
		const multi = this.redis.multi();
		for (const { key, count, sent } of batch) {
			const redisKey = `${this.prefix}${window}:${key}`;
			multi.incrby(redisKey, sent).pexpire(redisKey, this.windowMs * 2);
			count.pending -= sent;
		}
		try {
			const results = (await multi.exec()) ?? [];
			batch.forEach(({ count, sent }, i) => {
				const [err, total] = results[i * 2] as [Error | null, number | null];
				if (window !== this.window) return;
				if (err || typeof total !== "number") count.pending += sent;
				else count.shared = total;
			});
		} catch {
			// Redis away: the hits stay counted here (the limit holds per node) and go to Redis with a later batch.
			if (window === this.window) for (const { count, sent } of batch) count.pending += sent;
		} finally {
			this.flushing = undefined;
		}
	}
}

const FLUSH_MS = 50;

/** The shared store when the cacher is Redis; moleculer-web's per-node memory store otherwise. */
export function rateLimitStoreFor(broker: ServiceBroker): typeof RedisRateLimitStore | undefined {
	return sharedRedis(broker.cacher) ? RedisRateLimitStore : undefined;
}

/** Seconds until the current window of a store ends (for Retry-After). */
export function secondsUntil(resetTime: number): number {
	return Math.max(1, Math.ceil((resetTime - Date.now()) / 1000));
}

