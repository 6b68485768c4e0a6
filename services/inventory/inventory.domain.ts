/**
 * Pure rules of stock: the invariants `0 <= reserved <= onHand`, what each movement
 * does, and when a change crosses the low-stock threshold or runs out.
 */
import { MAX_ON_HAND } from "../../contracts/stock";
import { ReservationClosedError, StockBelowReservedError, StockLimitError, type Shortage } from "./inventory.errors";

export const MOVEMENT_REASONS = ["INITIAL", "RESTOCK", "ADJUSTMENT", "RESERVE", "RELEASE", "SALE", "RETURN"] as const;
export type MovementReason = (typeof MOVEMENT_REASONS)[number];

/** Reasons a client may give to an adjustment; the others belong to the system. */
export const MANUAL_REASONS = ["RESTOCK", "ADJUSTMENT", "RETURN"] as const satisfies readonly MovementReason[];
export type ManualReason = (typeof MANUAL_REASONS)[number];

/** Reasons whose delta changes on-hand stock; the ledger's sum over them equals onHand. */
export const ON_HAND_REASONS: readonly MovementReason[] = ["INITIAL", "RESTOCK", "ADJUSTMENT", "SALE", "RETURN"];

export interface StockLevels {
	onHand: number;
	reserved: number;
	lowStockThreshold: number;
}

export interface StockRecord extends StockLevels {
	productId: string;
	lowStock: boolean;
	version: number;
	createdAt: string;
	updatedAt: string;
}

export interface Stock {
	productId: string;
	onHand: number;
	reserved: number;
	available: number;
	lowStockThreshold: number;
	lowStock: boolean;
	version: number;
	updatedAt: string;
}

export function available(levels: StockLevels): number {
	return levels.onHand - levels.reserved;
}

/** Low stock: what can still be sold is at or below the threshold. */
export function isLowStock(levels: StockLevels): boolean {
	return available(levels) <= levels.lowStockThreshold;
}

export function toStock(record: StockRecord): Stock {
	return {
		productId: record.productId,
		onHand: record.onHand,
		reserved: record.reserved,
		available: available(record),
		lowStockThreshold: record.lowStockThreshold,
		lowStock: record.lowStock,
		version: record.version,
		updatedAt: record.updatedAt
	};
}

/** The sign each manual reason allows: a restock or a return only adds stock. */
export function checkManualDelta(reason: ManualReason, delta: number): string | undefined {
	if (delta === 0) return "The 'delta' field must not be 0.";
	if ((reason === "RESTOCK" || reason === "RETURN") && delta < 0)
		return `A ${reason} adds stock: 'delta' must be positive.`;
	return undefined;
}

export { MAX_ON_HAND };

/** New levels after adding `delta` to on-hand stock; refuses to go below what is reserved or above MAX_ON_HAND. */
export function changeOnHand(current: StockRecord, delta: number): StockLevels {
	const onHand = current.onHand + delta;
	// Only an increase is held to the limit: a return may have taken stock above it.
	if (delta > 0 && onHand > MAX_ON_HAND) throw new StockLimitError(current.productId, { onHand: current.onHand, requested: onHand, limit: MAX_ON_HAND });
	if (onHand < current.reserved || onHand < 0)
		throw new StockBelowReservedError(current.productId, {
			onHand: current.onHand,
			reserved: current.reserved,
			requested: onHand
		});
	return { onHand, reserved: current.reserved, lowStockThreshold: current.lowStockThreshold };
}

export interface Crossings {
	/** The change took available stock to or below the threshold from above it (or opened it there). */
	becameLow: boolean;
	/** The change took available stock to zero from above it (or opened it at zero). */
	ranOut: boolean;
}

/** Compares levels before (null for a new stock record) and after a change. */
export function crossings(before: StockLevels | null, after: StockLevels): Crossings {
	const wasLow = before !== null && isLowStock(before);
	const wasOut = before !== null && available(before) === 0;
	return {
		becameLow: !wasLow && isLowStock(after),
		ranOut: !wasOut && available(after) === 0
	};
}

/** A change to one stock record: new levels and the ledger entry that explains them. */
export interface StockChange {
	delta: number;
	reason: MovementReason;
	reference: string | null;
	levels: StockLevels;
}

export interface ReservationItem {
	productId: string;
	quantity: number;
}

/** The items whose available stock (by product id; an unknown product has none) is below what is asked. */
export function shortages(items: ReservationItem[], availability: ReadonlyMap<string, number>): Shortage[] {
	return items
		.map(item => ({ productId: item.productId, requested: item.quantity, available: availability.get(item.productId) ?? 0 }))
		.filter(s => s.available < s.requested);
}

/** One item's reservation as planned: the record before and after it, and its ledger entry. */
export interface ReserveStep {
	before: StockRecord;
	after: StockRecord;
	change: StockChange;
}

/** What reserving several reservations one after the other, on locked records, comes to. */
export interface ReservePlan {
	/** Per reservation, in order: null when it is held, else the items short (nothing of it reserved). */
	refusals: (Shortage[] | null)[];
	steps: ReserveStep[];
	/** Each changed record as the last step left it. */
	finals: Map<string, StockRecord>;
}

/**
 * Reserves each reservation in order against `records` (locked, by product id), all its
 * items or none: as many conditional reserves one after the other would. A product with no
 * record has no stock.
 */
export function planReservations(records: ReadonlyMap<string, StockRecord>, reservations: { id: string; items: ReservationItem[] }[], at: string): ReservePlan {
	const current = new Map(records);
	const steps: ReserveStep[] = [];
	const refusals = reservations.map(({ id, items }) => {
		const availability = new Map([...current].map(([productId, record]) => [productId, available(record)]));
		// Summed per product: an item list naming a product twice must not take its units twice.
		const asked = new Map<string, number>();
		for (const { productId, quantity } of items) asked.set(productId, (asked.get(productId) ?? 0) + quantity);
		const short = shortages([...asked].map(([productId, quantity]) => ({ productId, quantity })), availability);
		if (short.length > 0) return short;
		for (const { productId, quantity } of items) {
			const before = current.get(productId)!;
			const levels = { onHand: before.onHand, reserved: before.reserved + quantity, lowStockThreshold: before.lowStockThreshold };
			const after: StockRecord = { ...before, ...levels, lowStock: isLowStock(levels), version: before.version + 1, updatedAt: at };
			current.set(productId, after);
			steps.push({ before, after, change: { delta: quantity, reason: "RESERVE", reference: id, levels } });
		}
		return null;
	});
	const finals = new Map(steps.map(step => [step.after.productId, current.get(step.after.productId)!]));
	return { refusals, steps, finals };
}

/** Gives back a reservation that will not be bought. */
export function release(current: StockLevels, quantity: number): StockLevels {
	return { ...current, reserved: current.reserved - quantity };
}

/** Turns a reservation into a sale: the units leave on-hand stock and the reservation. */
function sell(current: StockLevels, quantity: number): StockLevels {
	return { ...current, onHand: current.onHand - quantity, reserved: current.reserved - quantity };
}

/** Puts sold units back on hand (a confirmed purchase cancelled). */
function returnSold(current: StockLevels, quantity: number): StockLevels {
	return { ...current, onHand: current.onHand + quantity };
}

/** A reservation is HELD until the purchase is confirmed (CONSUMED) or not (RELEASED); a cancelled sale is RETURNED. */
export type ReservationStatus = "HELD" | "CONSUMED" | "RELEASED" | "RETURNED";

/** One step of a reservation out of `from`, and what it does to the stock of each of its items. */
export interface Transition {
	from: ReservationStatus;
	to: Exclude<ReservationStatus, "HELD">;
	reason: MovementReason;
	apply(levels: StockLevels, quantity: number): StockLevels;
	/** The ledger delta of an item: a sale and a release take units out (of on-hand and reserved), a return adds them back. */
	delta(quantity: number): number;
}

export const RELEASE: Transition = { from: "HELD", to: "RELEASED", reason: "RELEASE", apply: release, delta: q => -q };
export const SALE: Transition = { from: "HELD", to: "CONSUMED", reason: "SALE", apply: sell, delta: q => -q };
export const RETURN: Transition = { from: "CONSUMED", to: "RETURNED", reason: "RETURN", apply: returnSold, delta: q => q };

/** The change `transition` makes to the stock of one item of reservation `reservationId`. */
export function settleItem(transition: Transition, reservationId: string, current: StockLevels, quantity: number): StockChange {
	return {
		delta: transition.delta(quantity),
		reason: transition.reason,
		reference: reservationId,
		levels: transition.apply(current, quantity)
	};
}

/** A reserve asked again for a reservation that exists: the same answer while it is held, else a 409. */
export function answerAgain(reservationId: string, status: ReservationStatus | "unknown") {
	if (status !== "HELD") throw new ReservationClosedError(reservationId, status);
	return { reservationId, status };
}

/** A release of a reservation in `status`: RELEASE while it is held, else nothing (it is closed already). */
export function onRelease(status: ReservationStatus): Transition | null {
	return status === RELEASE.from ? RELEASE : null;
}

/**
 * A confirmed purchase sells its held reservation; sold already, or sold and returned by a
 * cancel that freed its stock before this event came, is done; released or missing is a contradiction.
 */
export function onConfirmed(purchaseId: string, status: ReservationStatus | undefined): Transition | null {
	if (status === "CONSUMED" || status === "RETURNED") return null;
	if (status !== SALE.from) throw new Error(`purchase ${purchaseId} was confirmed but its reservation is ${status ?? "missing"}`);
	return SALE;
}

/** A cancelled purchase releases its held reservation or returns what it sold; a closed or missing one changes nothing. */
export function onCancelled(status: ReservationStatus | undefined): Transition | null {
	if (status === RELEASE.from) return RELEASE;
	if (status === RETURN.from) return RETURN;
	return null;
}

/**
 * What a cancel does to its reservation before it answers, ahead of its events: a held one
 * is released, or, when the purchase was confirmed and its sale has not arrived yet, sold
 * and returned, as the two events will find it; a sold one is returned.
 */
export function onCancelNow(status: ReservationStatus | undefined, confirmed: boolean): Transition[] {
	if (confirmed && status === SALE.from) return [SALE, RETURN];
	const step = onCancelled(status);
	return step ? [step] : [];
}
