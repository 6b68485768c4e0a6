/** What inventory does on the events it consumes: each in the transaction that records the event as handled. */
import type { Transaction } from "sequelize";
import type { EventEnvelope } from "../../contracts/events";
import { isLowStock, onCancelled, onConfirmed, type StockRecord } from "./inventory.domain";
import { refreshStockCache } from "./inventory.cache";
import { recordChange, settleReservation, type InventoryThis as This } from "./inventory.changes";
import { deleteStock, insertStock } from "./inventory.repository";
import { lockReservation } from "./inventory.reservations.repository";

/** Opens the stock record of a new product with its initial quantity. */
export async function createStockWhenProductCreated(svc: This, event: EventEnvelope<"product.created">, tx: Transaction) {
	const { initialStock, lowStockThreshold } = event.payload;
	const productId = event.aggregateId;
	const at = new Date().toISOString();
	const levels = { onHand: initialStock, reserved: 0, lowStockThreshold };
	const record: StockRecord = { productId, ...levels, lowStock: isLowStock(levels), version: 1, createdAt: at, updatedAt: at };
	if (!(await insertStock(svc.db, tx, record))) return;
	await recordChange(svc, tx, null, record, { delta: initialStock, reason: "INITIAL", reference: null, levels }, event);
}

/** Drops the stock record of a deleted product; its ledger stays for the record. */
export async function removeStockWhenProductDeleted(svc: This, event: EventEnvelope<"product.deleted">, tx: Transaction) {
	const productId = event.aggregateId;
	const deletedVersion = await deleteStock(svc.db, tx, productId);
	if (deletedVersion !== null) svc.db.afterCommit(tx, () => refreshStockCache(svc, productId, { deletedVersion }));
}

/** A confirmed purchase turns its reservation into a sale. */
export async function sellWhenPurchaseConfirmed(svc: This, event: EventEnvelope<"purchase.confirmed">, tx: Transaction) {
	const reservation = await lockReservation(svc.db, tx, event.aggregateId);
	const transition = onConfirmed(event.aggregateId, reservation?.status);
	if (reservation && transition) await settleReservation(svc, tx, reservation, transition, event);
}

/** A cancelled purchase releases its reservation (PENDING) or returns the sold stock (CONFIRMED). */
export async function releaseWhenPurchaseCancelled(svc: This, event: EventEnvelope<"purchase.cancelled">, tx: Transaction) {
	const reservation = await lockReservation(svc.db, tx, event.aggregateId);
	const transition = onCancelled(reservation?.status);
	if (reservation && transition) await settleReservation(svc, tx, reservation, transition, event);
}
