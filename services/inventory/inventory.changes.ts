/**
 * How a stock change is written, inside the caller's transaction: the row (conditionally on
 * the version read, or by a conditional reserve), its ledger entry, its events in the outbox,
 * and once committed the cached stock.
 */
import type { Service } from "moleculer";
import type { Transaction } from "sequelize";
import type { DbServiceThis } from "../../mixins/db.mixin";
import type { OutboxThis } from "../../mixins/outbox.mixin";
import type { EventOrigin } from "../../contracts/events";
import { onceForKey, type KeyedCall } from "../../lib/remembered-answers";
import { isLowStock, settleItem, toStock, type Stock, type StockChange, type StockLevels, type StockRecord, type Transition } from "./inventory.domain";
import { StockNotFoundError } from "./inventory.errors";
import { stockEvents } from "./inventory.events";
import { refreshStockCache } from "./inventory.cache";
import { insertMovements, lockStock, updateStock } from "./inventory.repository";
import { setReservationStatus, type Reservation } from "./inventory.reservations.repository";

export type InventoryThis = Service & DbServiceThis & OutboxThis;

/**
 * Changes one stock record in a transaction of its own; `decide` returns null to leave it as
 * it is. With a keyed call, once per key: the same call again is given the first answer.
 */
export function changeStock(
	svc: InventoryThis,
	productId: string,
	origin: EventOrigin,
	decide: (current: StockRecord) => StockChange | null,
	call: KeyedCall | null = null
): Promise<Stock> {
	return onceForKey(svc.db, call, async tx => {
		const current = await lockStock(svc.db, tx, productId);
		if (!current) throw new StockNotFoundError(productId);
		const change = decide(current);
		return toStock(change ? await writeChange(svc, tx, current, change, origin) : current);
	});
}

/** Writes new levels over a locked record, conditionally on the version read. */
async function writeChange(svc: InventoryThis, tx: Transaction, current: StockRecord, change: StockChange, origin: EventOrigin): Promise<StockRecord> {
	const at = new Date().toISOString();
	const next: StockRecord = { ...current, ...change.levels, lowStock: isLowStock(change.levels), version: current.version + 1, updatedAt: at };
	if (!(await updateStock(svc.db, tx, next, current.version))) throw new Error(`stock of ${current.productId} changed under a row lock`);
	await recordChange(svc, tx, current, next, change, origin);
	return next;
}

/** The ledger entry, the events and (after the commit) the cached stock of a change written to `after`; `before` is null for a new record. */
export async function recordChange(svc: InventoryThis, tx: Transaction, before: StockLevels | null, after: StockRecord, change: StockChange, origin: EventOrigin): Promise<void> {
	if (change.delta !== 0) await insertMovements(svc.db, tx, [{ productId: after.productId, change, at: after.updatedAt }]);
	await svc.appendEvents(tx, stockEvents(svc.name, before, after, change, origin));
	svc.db.afterCommit(tx, () => refreshStockCache(svc, after.productId, after));
}

/**
 * Applies `transition` to the stock of every item of a reservation and closes it. Items
 * whose product was deleted meanwhile have no stock left to change and are skipped.
 */
export async function settleReservation(svc: InventoryThis, tx: Transaction, reservation: Reservation, transition: Transition, origin: EventOrigin): Promise<void> {
	for (const item of reservation.items) {
		const current = await lockStock(svc.db, tx, item.productId);
		if (current) await writeChange(svc, tx, current, settleItem(transition, reservation.id, current, item.quantity), origin);
	}
	await setReservationStatus(svc.db, tx, reservation.id, transition.to);
}

