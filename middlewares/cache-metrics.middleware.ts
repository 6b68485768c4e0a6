/**
 * The shared cacher's hits and misses by service (`cache_hits_total{service}`,
 * `cache_misses_total{service}`), next to the near cache's: Moleculer's own
 * `moleculer_cacher_found_total` has no service label, so no hit ratio per service. It
 * wraps the cacher (it is listed after it), and reads what the cacher left on the context.
 */
import type { Context, Middleware, ServiceBroker } from "moleculer";
import { countMetric, registerMetrics } from "../lib/metrics";
import { isCached, type CachedActionDef } from "./near-cache.middleware";

export function CacheMetricsMiddleware(): Middleware {
	return {
		name: "CacheMetrics",
		created(broker: ServiceBroker) {
			registerMetrics(broker, [
				{ name: "cache_hits_total", type: "counter", labelNames: ["service"], description: "Cached action calls the shared cacher answered" },
				{ name: "cache_misses_total", type: "counter", labelNames: ["service"], description: "Cached action calls the cacher did not have, so the action ran" }
			]);
		},
		localAction(this: ServiceBroker, handler: (ctx: Context) => Promise<unknown>, action: CachedActionDef) {
			if (!isCached(action) || !this.isMetricsEnabled()) return handler;
			const service = action.service?.name ?? action.name.split(".")[0];
			return async (ctx: Context) => {
				try {
					return await handler(ctx);
				} finally {
					// A call that asked to skip the cache ($cache: false) never looked: neither a hit nor a miss.
					if ((ctx.meta as { $cache?: boolean }).$cache !== false)
						countMetric(this, (ctx as { cachedResult?: boolean }).cachedResult ? "cache_hits_total" : "cache_misses_total", { service });
				}
			};
		}
	} as unknown as Middleware;
}
