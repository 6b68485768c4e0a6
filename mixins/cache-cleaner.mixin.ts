/**
 * Keeps per-node caches in step across the cluster. A service that changes data cleans
 * its cache and broadcasts `cache.clean.<service>` (moleculer-db's `clearCache`). With
 * Redis the clean is already shared; with the Memory cacher every other node cleans its
 * own copy here, which also outdates the answers its near cache holds.
 */
import type { Context, Service, ServiceSchema } from "moleculer";
import { defineMixin } from "../lib/schema";
import { keptPerNode } from "../lib/cache/capabilities";

export function createCacheCleanerMixin(services: string[]): Partial<ServiceSchema> {
	return defineMixin<Service>({
		events: Object.fromEntries(
			services.map(service => [
				`cache.clean.${service}`,
				function (this: Service, ctx: Context) {
					const cacher = this.broker.cacher;
					if (ctx.nodeID === this.broker.nodeID || !keptPerNode(cacher)) return;
					return cacher.clean(`${service}.**`);
				}
			])
		)
	});
}
