/**
 * A near cache on the calling node (the gateway) for actions that declare `cache`: an
 * answer is kept with the service's cache version at the time it was asked, and served
 * again while that version is unchanged. Checking the version is one Redis read (or a
 * local lookup with the Memory cacher), so a hit saves the transporter hop and the
 * service's work without ever serving an answer older than the last clean. It is used
 * for remote calls (this middleware) and by the gateway for cached GETs, whose hits it
 * answers with JSON serialized once (`answer`).
 *
 * The answer it keeps is also the fallback: actions that declare `staleFallback` are
 * answered from it, marked stale, when their service fails or its circuit is open, even
 * after their version moved on (see `staleAnswer`).
 */
import type { Context, Middleware, ServiceBroker } from "moleculer";
import type { VersionedCacher } from "../lib/cache/versions";

interface Counter {
	increment(labels: { service: string }): void;
}

/** An answer, its JSON once someone needed it, and the key it is kept under when it is kept. */
export interface Answer {
	value: unknown;
	json?: string;
	key?: string;
}

interface Entry extends Answer {
	version: string;
	expiresAt: number;
}

export interface CachedActionDef {
	name: string;
	cache?: boolean | { keys?: string[]; ttl?: number; enabled?: boolean };
	staleFallback?: boolean;
	service?: { name?: string };
}

const MAX_ENTRIES = 20_000;

const serviceOf = (def: CachedActionDef) => def.service?.name ?? def.name.split(".")[0];

/** Whether an action's answers may be cached (it declares `cache`, not disabled). */
export function isCached(def: CachedActionDef): boolean {
	return Boolean(def.cache) && (typeof def.cache !== "object" || def.cache.enabled !== false);
}

export class NearCache {
	private readonly fresh = new Map<string, Entry>();
	/** The actions seen, by name: a stale answer is wanted when the action's service is gone. */
	private readonly defs = new Map<string, CachedActionDef>();

	constructor(
		private readonly cacher: VersionedCacher,
		private readonly hits?: Counter,
		private readonly misses?: Counter
	) {}

	keyOf(def: CachedActionDef, params: unknown): string {
		const opts = typeof def.cache === "object" ? def.cache : {};
		return this.cacher.getCacheKey(def, opts, { params: params ?? {}, meta: {} });
	}

	/** The last answer known for an action and params (outdated or not), if the action accepts stale answers. */
	staleAnswer(actionName: string, params: unknown): unknown {
		const def = this.defs.get(actionName);
		return def?.staleFallback ? this.fresh.get(this.keyOf(def, params))?.value : undefined;
	}

	async call(def: CachedActionDef, ctx: Context, handler: (ctx: Context) => Promise<unknown>): Promise<unknown> {
		return (await this.answer(def, ctx.params, () => handler(ctx))).value;
	}

	/** The answer kept for an action and params while its service's version holds; else fetched, and kept. */
	async answer(def: CachedActionDef, params: unknown, fetch: () => Promise<unknown>): Promise<Answer> {
		this.defs.set(def.name, def);
		const service = serviceOf(def);
		// Read before fetching: a clean that lands meanwhile outdates what is fetched now.
		const version = await this.cacher.version(service);
		if (version === undefined) {
			this.misses?.increment({ service });
			return { value: await fetch() };
		}
		const key = this.keyOf(def, params);
		const entry = this.current(key, version);
		if (entry) {
			this.hits?.increment({ service });
			return entry;
		}
		this.misses?.increment({ service });
		const value = await fetch();
		const ttl = (typeof def.cache === "object" && def.cache.ttl) || 60;
		const fresh: Entry = { value, key, version, expiresAt: Date.now() + ttl * 1000 };
		this.remember(key, fresh);
		return fresh;
	}

	/** The answer kept under `key` while its service's version holds, counted as a hit; undefined (and not counted) otherwise. */
	async freshAnswer(def: CachedActionDef, key: string): Promise<Answer | undefined> {
		const service = serviceOf(def);
		const entry = this.current(key, await this.cacher.version(service));
		if (entry) this.hits?.increment({ service });
		return entry;
	}

	/** The entry kept under `key`, if it has not expired and was made under `version`. */
	private current(key: string, version: string | undefined): Entry | undefined {
		const entry = this.fresh.get(key);
		return entry && entry.version === version && entry.expiresAt > Date.now() ? entry : undefined;
	}

	private remember(key: string, entry: Entry): void {
		this.fresh.delete(key);
		this.fresh.set(key, entry);
		if (this.fresh.size > MAX_ENTRIES) this.fresh.delete(this.fresh.keys().next().value!);
	}
}

const nearCaches = new WeakMap<ServiceBroker, NearCache>();

/** The near cache of a broker, once the middleware is installed. */
export function nearCacheOf(broker: ServiceBroker): NearCache | undefined {
	return nearCaches.get(broker);
}

export function NearCacheMiddleware(): Middleware {
	return {
		name: "NearCache",
		created(broker: ServiceBroker) {
			const cacher = broker.cacher as unknown as VersionedCacher | null;
			if (!cacher || typeof cacher.version !== "function") return;
			const counter = (name: string, description: string) =>
				broker.isMetricsEnabled()
					? ((broker.metrics.register({ name, type: "counter", labelNames: ["service"], description }) as unknown as Counter | null) ?? undefined)
					: undefined;
			nearCaches.set(
				broker,
				new NearCache(
					cacher,
					counter("near_cache_hits_total", "Answers the near cache gave without calling the service"),
					counter("near_cache_misses_total", "Near cache lookups that called the service")
				)
			);
		},
		remoteAction(this: ServiceBroker, handler: (ctx: Context) => Promise<unknown>, action: CachedActionDef) {
			if (!isCached(action)) return handler;
			return (ctx: Context) => {
				const near = nearCaches.get(this);
				// The gateway's own lookup (callAction) already asked: one lookup per miss.
				if (!near || (ctx.meta as { $cache?: boolean }).$cache === false || (ctx.options as { nearCache?: boolean }).nearCache === false)
					return handler(ctx);
				return near.call(action, ctx, handler);
			};
		}
	} as unknown as Middleware;
}
