/**
 * Purchases' flow: every status change (a new purchase is a change from "NONE" to PENDING),
 * the value that reached each status, and the expiries. Counted after the change's
 * transaction, once: a keyed call answered again from its first answer is not counted again.
 */
import type { ServiceBroker } from "moleculer";
import { countMetric, registerMetrics, startAtZero } from "../../lib/metrics";
import type { PurchaseStatus } from "./purchases.domain";

/** The `from` of a purchase's first status. */
export const NO_STATUS = "NONE";

export function registerPurchaseMetrics(broker: ServiceBroker): void {
	registerMetrics(broker, [
		{ name: "purchases_transitions_total", type: "counter", labelNames: ["from", "to"], description: "Purchase status changes; a new purchase is from=NONE to=PENDING" },
		{
			name: "purchases_value_cents_total",
			type: "counter",
			labelNames: ["status", "currency"],
			description: "Total value in cents of the purchases that reached each status"
		},
		{ name: "purchases_expired_total", type: "counter", description: "PENDING purchases cancelled because their time to confirm ran out" }
	]);
	startAtZero(broker, "purchases_expired_total");
}

export function countTransition(
	broker: ServiceBroker,
	from: PurchaseStatus | typeof NO_STATUS,
	purchase: { status: PurchaseStatus; totalCents: number; currency: string; cancelReason?: string | null }
): void {
	countMetric(broker, "purchases_transitions_total", { from, to: purchase.status });
	countMetric(broker, "purchases_value_cents_total", { status: purchase.status, currency: purchase.currency }, purchase.totalCents);
	if (from === "PENDING" && purchase.status === "CANCELLED" && purchase.cancelReason === "expired") countMetric(broker, "purchases_expired_total");
}
