/** Pure rules of purchases: the state machine, the order's items, pricing from the catalog. */
import { fromCents, toCents } from "../../contracts/money";
import type { ProductSnapshot, PurchaseEventPayload, PurchaseLine } from "../../contracts/events";
import { UnprocessableError, type FieldError } from "../../contracts/errors";
import { UnpurchasableItemsError } from "./purchases.errors";

export const PURCHASE_STATUSES = ["PENDING", "CONFIRMED", "CANCELLED", "COMPLETED"] as const;
export type PurchaseStatus = (typeof PURCHASE_STATUSES)[number];

export type Transition = "confirm" | "cancel" | "complete";

/** PENDING -> CONFIRMED -> COMPLETED; PENDING or CONFIRMED -> CANCELLED; nothing else. */
export const TRANSITIONS: Record<Transition, { from: readonly PurchaseStatus[]; to: PurchaseStatus; past: string }> = {
	confirm: { from: ["PENDING"], to: "CONFIRMED", past: "confirmed" },
	cancel: { from: ["PENDING", "CONFIRMED"], to: "CANCELLED", past: "cancelled" },
	complete: { from: ["CONFIRMED"], to: "COMPLETED", past: "completed" }
};

export function canTransition(status: PurchaseStatus, transition: Transition): boolean {
	return TRANSITIONS[transition].from.includes(status);
}

export interface RequestedItem {
	productId: string;
	quantity: number;
}

/** Throws a 422 naming the first item whose product an earlier item already has. */
export function refuseRepeatedProducts(items: RequestedItem[]): void {
	const ids = items.map(i => i.productId);
	const duplicate = ids.findIndex((id, i) => ids.indexOf(id) !== i);
	if (duplicate >= 0)
		throw new UnprocessableError([{ field: `items[${duplicate}].productId`, message: "Each product may appear once; add up its quantities." }]);
}

/** A line as stored: money in cents. */
export interface LineRecord {
	productId: string;
	sku: string;
	name: string;
	quantity: number;
	unitPriceCents: number;
	lineTotalCents: number;
}

/** The requested items priced: their lines, total and one currency. */
export interface PricedItems {
	lines: LineRecord[];
	totalCents: number;
	currency: string;
}

/**
 * Prices the requested items from the catalog: every product must exist, be active and
 * share one currency. Throws a 422 naming each item that cannot be bought.
 */
export function priceItems(requested: RequestedItem[], catalog: Map<string, ProductSnapshot>): PricedItems {
	const errors: FieldError[] = [];
	const lines: LineRecord[] = [];
	requested.forEach((item, index) => {
		const product = catalog.get(item.productId);
		const field = `items[${index}].productId`;
		if (!product) errors.push({ field, message: `Product ${item.productId} does not exist.`, type: "unknownProduct" });
		else if (!product.active) errors.push({ field, message: `Product ${item.productId} is not for sale.`, type: "inactiveProduct" });
		else {
			const unitPriceCents = toCents(product.price)!;
			lines.push({
				productId: product.id,
				sku: product.sku,
				name: product.name,
				quantity: item.quantity,
				unitPriceCents,
				lineTotalCents: unitPriceCents * item.quantity
			});
		}
	});
	const currencies = new Set(lines.map(line => catalog.get(line.productId)!.currency));
	if (currencies.size > 1)
		errors.push({ field: "items", message: `Items are priced in different currencies (${[...currencies].join(", ")}).`, type: "currency" });
	if (errors.length > 0) throw new UnpurchasableItemsError(errors);
	return {
		lines,
		totalCents: lines.reduce((sum, line) => sum + line.lineTotalCents, 0),
		currency: [...currencies][0]
	};
}

export interface PurchaseRecord {
	id: string;
	status: PurchaseStatus;
	items: LineRecord[];
	totalCents: number;
	currency: string;
	customerId: string | null;
	idempotencyKey: string | null;
	expiresAt: string;
	cancelReason: string | null;
	createdAt: string;
	updatedAt: string;
	confirmedAt: string | null;
	completedAt: string | null;
	cancelledAt: string | null;
}

/** A new PENDING purchase of the priced items, made at `now` and held for `ttlMs`. */
export function pendingPurchase(
	id: string,
	priced: PricedItems,
	order: { customerId: string | null; idempotencyKey: string | null },
	now: Date,
	ttlMs: number
): PurchaseRecord {
	return {
		id,
		status: "PENDING",
		items: priced.lines,
		totalCents: priced.totalCents,
		currency: priced.currency,
		customerId: order.customerId,
		idempotencyKey: order.idempotencyKey,
		expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
		cancelReason: null,
		createdAt: now.toISOString(),
		updatedAt: now.toISOString(),
		confirmedAt: null,
		completedAt: null,
		cancelledAt: null
	};
}

/** Whether a purchase is PENDING past its TTL at `now` (ISO strings compare in time order). */
export const isExpired = (purchase: PurchaseRecord, now: string): boolean => purchase.status === "PENDING" && purchase.expiresAt <= now;

/** A new status, with the reason when it is CANCELLED. */
export interface StatusChange {
	status: PurchaseStatus;
	reason: string | null;
}

/** `current` moved to `change.status` at `now`, stamping the matching timestamp (and reason). */
export function withStatus<T extends PurchaseRecord>(current: T, change: StatusChange, now: string): T {
	return {
		...current,
		status: change.status,
		updatedAt: now,
		confirmedAt: change.status === "CONFIRMED" ? now : current.confirmedAt,
		completedAt: change.status === "COMPLETED" ? now : current.completedAt,
		cancelledAt: change.status === "CANCELLED" ? now : current.cancelledAt,
		cancelReason: change.status === "CANCELLED" ? change.reason : current.cancelReason
	};
}

/** A purchase as the API answers it: the record with its money in decimals. */
export type Purchase = Omit<PurchaseRecord, "items" | "totalCents"> & { items: PurchaseLine[]; total: number };

function toLine(line: LineRecord): PurchaseLine {
	return {
		productId: line.productId,
		sku: line.sku,
		name: line.name,
		quantity: line.quantity,
		unitPrice: fromCents(line.unitPriceCents),
		lineTotal: fromCents(line.lineTotalCents)
	};
}

/** The API's view of a purchase: only its own fields, whatever else the record carries. */
export function toPurchase(record: PurchaseRecord): Purchase {
	return {
		id: record.id,
		status: record.status,
		items: record.items.map(toLine),
		total: fromCents(record.totalCents),
		currency: record.currency,
		customerId: record.customerId,
		idempotencyKey: record.idempotencyKey,
		expiresAt: record.expiresAt,
		cancelReason: record.cancelReason,
		createdAt: record.createdAt,
		updatedAt: record.updatedAt,
		confirmedAt: record.confirmedAt,
		completedAt: record.completedAt,
		cancelledAt: record.cancelledAt
	};
}

export function eventPayload(record: PurchaseRecord): PurchaseEventPayload {
	return {
		purchaseId: record.id,
		status: record.status,
		items: record.items.map(toLine),
		total: fromCents(record.totalCents),
		currency: record.currency,
		customerId: record.customerId
	};
}
