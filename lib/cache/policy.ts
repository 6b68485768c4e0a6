/**
 * How long a cached answer lives. Change events invalidate, so a TTL only bounds memory and
 * the damage of a missed invalidation: hot keys (read often in the last minute) live up to
 * twice the action's TTL, cold ones half of it, and every TTL gets ±10 % jitter so keys
 * written together do not expire together.
 */

export const WINDOW_MS = 60_000;
/** Reads per window from which a key counts as hot. */
const HOT_READS = 20;

export class AccessTracker {
	private counts = new Map<string, number>();
	private windowStart: number;

	constructor(
		private readonly maxKeys = 10_000,
		private readonly now: () => number = Date.now
	) {
		this.windowStart = now();
	}

	/** Counts one read of `key`. */
	touch(key: string): void {
		this.roll();
		const count = this.counts.get(key);
		if (count === undefined && this.counts.size >= this.maxKeys) return;
		this.counts.set(key, (count ?? 0) + 1);
	}

	reads(key: string): number {
		this.roll();
		return this.counts.get(key) ?? 0;
	}

	private roll(): void {
		if (this.now() - this.windowStart < WINDOW_MS) return;
		this.counts.clear();
		this.windowStart = this.now();
	}
}

/** The TTL in seconds for a key read `reads` times in the current window, for an action TTL of `base`. */
export function adaptiveTtl(base: number, reads: number, random: () => number = Math.random): number {
	const factor = reads >= HOT_READS ? 2 : reads <= 1 ? 0.5 : 1;
	const jitter = 0.9 + random() * 0.2;
	return Math.max(1, Math.round(base * factor * jitter));
}

/** The service a cache key or clean pattern belongs to: "products.get:abc" and "products.**" -> "products". */
export function serviceOfKey(keyOrPattern: string): string {
	return keyOrPattern.split(".")[0];
}
