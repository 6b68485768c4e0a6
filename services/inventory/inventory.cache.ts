import type { Cachers, Service } from "moleculer";
import { keptPerNode } from "../../lib/cache/capabilities";
import type { VersionedCacher } from "../../lib/cache/versions";
import { toStock, type StockRecord } from "./inventory.domain";

/** Seconds a cached stock lives (30 minutes); changes replace it at once. */
export const STOCK_TTL = 1800;

/**
 * Keeps a product's cached stock in step after a commit. A change is written through
 * (the next read needs no database); a deletion retires the key, so no write-through
 * of an earlier change brings the stock back. Near caches see a new version, and
 * Memory caches on other nodes drop their copy.
 */
export async function refreshStockCache(svc: Service, productId: string, after: StockRecord | { deletedVersion: number }): Promise<void> {
	const cacher = svc.broker.cacher as (Cachers.Base<object> & VersionedCacher) | null;
	if (!cacher) return;
	const key = cacher.getCacheKey({ name: `${svc.name}.get` }, { keys: ["productId"] }, { params: { productId }, meta: {} });
	if ("deletedVersion" in after) await cacher.retire(key, after.deletedVersion, STOCK_TTL);
	else await cacher.writeThrough(key, toStock(after), STOCK_TTL);
	// A shared (Redis) cache is current already; per-node Memory caches elsewhere are not.
	if (keptPerNode(cacher)) await svc.broker.broadcast(`cache.clean.${svc.name}`);
}
