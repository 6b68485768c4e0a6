import { ConflictError, NotFoundError } from "../../contracts/errors";

export class StockNotFoundError extends NotFoundError {
	constructor(productId: string) {
		super(`No stock record for product ${productId}.`, "STOCK_NOT_FOUND", { productId });
	}
}

export class ReservationNotFoundError extends NotFoundError {
	constructor(reservationId: string) {
		super(`No reservation ${reservationId}.`, "RESERVATION_NOT_FOUND", { reservationId });
	}
}

export class StockBelowReservedError extends ConflictError {
	constructor(productId: string, levels: { onHand: number; reserved: number; requested: number }) {
		super(
			levels.requested < 0
				? `On-hand stock of product ${productId} cannot go below zero: it has ${levels.onHand}, the change would leave ${levels.requested}.`
				: `On-hand stock of product ${productId} cannot become ${levels.requested}: ${levels.reserved} units are reserved.`,
			"STOCK_BELOW_RESERVED",
			{ productId, ...levels }
		);
	}
}

export class StockLimitError extends ConflictError {
	constructor(productId: string, levels: { onHand: number; requested: number; limit: number }) {
		super(
			`On-hand stock of product ${productId} cannot become ${levels.requested}: the most a product may hold is ${levels.limit}.`,
			"STOCK_LIMIT_EXCEEDED",
			{ productId, ...levels }
		);
	}
}

export interface Shortage {
	productId: string;
	requested: number;
	available: number;
}

export class InsufficientStockError extends ConflictError {
	constructor(items: Shortage[]) {
		super(
			`Not enough stock for ${items.length === 1 ? "1 item" : `${items.length} items`}: nothing was reserved.`,
			"INSUFFICIENT_STOCK",
			{ items }
		);
	}
}

export class ReservationClosedError extends ConflictError {
	constructor(reservationId: string, status: string) {
		super(`Reservation ${reservationId} is already ${status}.`, "RESERVATION_CLOSED", { reservationId, status });
	}
}
