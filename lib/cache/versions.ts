/**
 * What both cachers share: a cache version per service, and fills guarded by it
 * (`guardedRead`): an answer is cached only while the version seen before the read holds.
 */
import { randomInt } from "node:crypto";
import { serviceOfKey } from "./policy";

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

export interface CacheOptions {
	ttl?: number;
	lock?: { enabled?: boolean; ttl?: number };
}

/**
 * Moleculer's cache-aside read (both with and without the key's lock), except that the
 * service's version is read before the handler reads the database and the answer is
 * cached only while that version holds.
 */
export async function guardedRead(cacher: GuardedCacher, ctx: { cachedResult?: boolean }, key: string, handler: (ctx: unknown) => Promise<unknown>, opts: CacheOptions) {
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
			if (filledMeanwhile !== cacher.opts.missingResponse) {
				// The next read queued on the lock must get it: the Memory cacher's lock never expires.
				await unlock();
				return cached(filledMeanwhile);
			}
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

/** A version nobody used before, so a restarted store never revives old tags. */
export const freshVersion = () => `${Date.now().toString(36)}-${randomInt(2 ** 40).toString(36)}`;
