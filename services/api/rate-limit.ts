/**
 * Rate limiting per API key (RATE_LIMIT requests per minute). moleculer-web counts per
 * node; with the Redis cacher the count lives in Redis, in fixed windows aligned to the
 * clock, so every gateway node counts against the same budget. If Redis is away the
 * limit is not enforced rather than failing requests.
 */
import type { IncomingMessage } from "node:http";
import type { ServiceBroker } from "moleculer";
import type { Redis } from "ioredis";
import { ResilientRedisCacher } from "../../middlewares/cacher";

export class RedisRateLimitStore {
	resetTime = 0;
	private readonly client: Redis;
	private readonly prefix: string;

	constructor(
		private readonly windowMs: number,
		_options: unknown,
		broker: ServiceBroker
	) {
		this.client = (broker.cacher as ResilientRedisCacher).client;
		this.prefix = `pi-ratelimit:${broker.namespace}:`;
	}

	async inc(key: string): Promise<number> {
		const window = Math.floor(Date.now() / this.windowMs);
		this.resetTime = (window + 1) * this.windowMs;
		const redisKey = `${this.prefix}${window}:${key}`;
		try {
			const [[, count]] = (await this.client.multi().incr(redisKey).pexpire(redisKey, this.windowMs * 2).exec()) as [[unknown, number]];
			return count;
		} catch {
			return 0;
		}
	}
}

/** The shared store when the cacher is Redis; moleculer-web's per-node memory store otherwise. */
export function rateLimitStoreFor(broker: ServiceBroker): typeof RedisRateLimitStore | undefined {
	return broker.cacher instanceof ResilientRedisCacher ? RedisRateLimitStore : undefined;
}

/** Seconds until the current window of a store ends (for Retry-After). */
export function secondsUntil(resetTime: number): number {
	return Math.max(1, Math.ceil((resetTime - Date.now()) / 1000));
}

export type RateLimitKey = (req: IncomingMessage) => string;
