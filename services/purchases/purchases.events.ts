/** The events a purchase's changes write to the outbox. */
import { buildEvent, type EventEnvelope, type EventOrigin } from "../../contracts/events";
import { eventPayload, type PurchaseRecord, type PurchaseStatus } from "./purchases.domain";

const EVENT_OF_STATUS = {
	CONFIRMED: "purchase.confirmed",
	COMPLETED: "purchase.completed"
} as const;

/** `purchase.created` from service `source`, once the purchase's stock is reserved. */
export function purchaseCreated(source: string, purchase: PurchaseRecord, origin: EventOrigin): EventEnvelope {
	return buildEvent("purchase.created", source, purchase.id, { ...eventPayload(purchase), expiresAt: purchase.expiresAt }, origin);
}

/** The event of a purchase moved from `previous` to `next.status`. */
export function statusChanged(source: string, previous: PurchaseStatus, next: PurchaseRecord, origin: EventOrigin): EventEnvelope {
	return next.status === "CANCELLED"
		? buildEvent("purchase.cancelled", source, next.id, { ...eventPayload(next), reason: next.cancelReason, previousStatus: previous as "PENDING" | "CONFIRMED" }, origin)
		: buildEvent(EVENT_OF_STATUS[next.status as "CONFIRMED" | "COMPLETED"], source, next.id, eventPayload(next), origin);
}
