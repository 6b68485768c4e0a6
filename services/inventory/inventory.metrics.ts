/**
 * Inventory's stock gauges: products at or below their low-stock threshold (the out of stock
 * ones included), products with nothing left to sell, and units held by reservations.
 * Refreshed from one aggregate over stocks every few seconds, not per request; with several
 * inventory nodes each exports the same figures (take max, not sum, across nodes).
 */
import type { Service } from "moleculer";
import type { Database } from "../../lib/database";
import { periodically, type PartHooks } from "../../lib/lifecycle";
import { registerMetrics, setMetric } from "../../lib/metrics";
import { stockTotals } from "./inventory.repository";

const REFRESH_MS = 5_000;

type Measured = Pick<Service, "broker" | "logger"> & { db: Database };

/** Registers the gauges and returns the job that keeps them current while the service runs. */
export function stockGauges(service: Measured): PartHooks {
	const { broker } = service;
	registerMetrics(broker, [
		{ name: "inventory_low_stock_products", type: "gauge", description: "Products whose available stock is at or below their low-stock threshold" },
		{ name: "inventory_out_of_stock_products", type: "gauge", description: "Products with no available stock (on hand less reserved)" },
		{ name: "inventory_reserved_units", type: "gauge", description: "Units held by open reservations" }
	]);
	const job = periodically(
		REFRESH_MS,
		async () => {
			const totals = await stockTotals(service.db);
			setMetric(broker, "inventory_low_stock_products", totals.lowStockProducts);
			setMetric(broker, "inventory_out_of_stock_products", totals.outOfStockProducts);
			setMetric(broker, "inventory_reserved_units", totals.reservedUnits);
		},
		err => service.logger.debug("Stock gauges not refreshed:", err.message)
	);
	return broker.isMetricsEnabled() ? job : {};
}
