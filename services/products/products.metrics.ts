/** The catalog's changes, counted once each (a keyed call answered again is not counted again). */
import type { ServiceBroker } from "moleculer";
import { countMetric, registerMetrics, startAtZero } from "../../lib/metrics";

const CHANGES = ["created", "updated", "deleted"] as const;
export type ProductChange = (typeof CHANGES)[number];

export function registerProductMetrics(broker: ServiceBroker): void {
	registerMetrics(broker, [
		{ name: "products_created_total", type: "counter", description: "Products created" },
		{ name: "products_updated_total", type: "counter", description: "Product updates that changed a product (PUT or PATCH)" },
		{ name: "products_deleted_total", type: "counter", description: "Products deleted" }
	]);
	for (const change of CHANGES) startAtZero(broker, `products_${change}_total`);
}

export function countProductChange(broker: ServiceBroker, change: ProductChange): void {
	countMetric(broker, `products_${change}_total`);
}
