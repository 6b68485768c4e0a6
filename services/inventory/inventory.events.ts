import { buildEvent, type EventEnvelope, type EventOrigin } from "../../contracts/events";
import { available, crossings, type StockChange, type StockLevels, type StockRecord } from "./inventory.domain";

/** `stock-updated` for every change, plus `low-stock` / `out-of-stock` once per crossing (`before` is null for a new record). */
export function stockEvents(
	source: string,
	before: StockLevels | null,
	after: StockRecord,
	change: StockChange,
	origin: EventOrigin
): EventEnvelope[] {
	const id = after.productId;
	const events: EventEnvelope[] = [
		buildEvent(
			"inventory.stock-updated",
			source,
			id,
			{
				productId: id,
				onHand: after.onHand,
				reserved: after.reserved,
				available: available(after),
				delta: change.delta,
				reason: change.reason,
				reference: change.reference
			},
			origin
		)
	];
	const crossed = crossings(before, after);
	if (crossed.becameLow)
		events.push(
			buildEvent("inventory.low-stock", source, id, { productId: id, available: available(after), lowStockThreshold: after.lowStockThreshold }, origin)
		);
	if (crossed.ranOut)
		events.push(buildEvent("inventory.out-of-stock", source, id, { productId: id, onHand: after.onHand, reserved: after.reserved }, origin));
	return events;
}
