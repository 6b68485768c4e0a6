/**
 * The per-node cacher: Moleculer's Memory cacher with adaptive TTLs (policy.ts), version-guarded
 * fills and write-throughs that only ever replace a record with a newer version.
 */
import { Cachers } from "moleculer";
import { AccessTracker, adaptiveTtl, serviceOfKey } from "./policy";
import { freshVersion, guardedRead, type CacheOptions, type GuardedCacher, type VersionedRecord } from "./versions";

/** Whether `record` may replace `held`: it is newer, or what is held carries no version. */
const supersedes = (record: VersionedRecord, held: unknown) =>
	!(typeof held === "object" && held !== null && typeof (held as VersionedRecord).version === "number" && (held as VersionedRecord).version >= record.version);

/** Retired keys a Memory cacher keeps before it forgets the expired ones. */
const MAX_RETIRED = 10_000;

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
