import { ConflictError, NotFoundError, UnprocessableError, type FieldError } from "../../contracts/errors";

export class PurchaseNotFoundError extends NotFoundError {
	constructor(id: string) {
		super(`Purchase ${id} was not found.`, "PURCHASE_NOT_FOUND", { id });
	}
}

export class InvalidTransitionError extends ConflictError {
	constructor(id: string, action: string, status: string, expired = false) {
		super(
			`Purchase ${id} is ${status}${expired ? " (expired)" : ""}: it cannot be ${action}.`,
			"INVALID_TRANSITION",
			{ id, action, status }
		);
	}
}

// Shared by every keyed write; named here too for the purchase code that imports them from this file.
export { IdempotencyKeyReusedError, IdempotentRequestInProgressError } from "../../contracts/errors";

/** Unknown or inactive products, or a mix of currencies: the purchase cannot be priced. */
export class UnpurchasableItemsError extends UnprocessableError {
	constructor(errors: FieldError[]) {
		super(errors, "Some items cannot be purchased.");
	}
}
