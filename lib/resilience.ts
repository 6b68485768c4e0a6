/**
 * Per-action policies, in one place: what is cached, what may be sent again to another
 * node (middlewares/failover.middleware.ts), how long a call may take, how many run at
 * once (spread into an action schema); and the wait between the attempts of the loops
 * that retry by hand.
 */

/** A read answered from cache (invalidated by change events), safe to repeat, answered stale by the gateway when its service fails. */
export function cachedRead(keys: string[], ttl: number, { staleFallback = false } = {}) {
	return {
		cache: { keys, ttl, lock: { enabled: true } },
		staleFallback,
		idempotent: true,
		timeout: 3000
	};
}

/** A read, or an idempotent call (same effect when repeated): sent again to another node when its node is lost. */
export const idempotentCall = { idempotent: true, timeout: 5000 };

/** A write that must not be repeated blindly: sent again only if it never ran; bounded concurrency so a burst queues instead of exhausting the database pool. */
export const guardedWrite = { timeout: 10_000, bulkhead: { enabled: true, concurrency: 32, maxQueueSize: 2000 } };

/**
 * A write made once per idempotency key (the client's, else one the gateway gives it,
 * lib/idempotency.ts): sent again with the same key it has its effect once, so a call
 * whose node was lost is sent again to another node.
 */
export const keyedWrite = { ...guardedWrite, readsIdempotencyKey: true };

/** How long to wait before attempt `attempt + 1`: `firstMs` doubling with each attempt, at most `maxMs`. */
export function doublingDelay(attempt: number, firstMs: number, maxMs = Infinity): number {
	return Math.min(maxMs, firstMs * 2 ** attempt);
}

/** Resolves after `ms`; a wait before a retry never keeps the process alive on its own. */
export function sleep(ms: number): Promise<void> {
	return new Promise(resolve => setTimeout(resolve, ms).unref());
}
