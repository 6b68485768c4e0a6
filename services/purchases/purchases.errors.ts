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

export class IdempotencyKeyReusedError extends UnprocessableError {
	constructor() {
		super(
			[{ field: "Idempotency-Key", message: "was already used with a different request body", type: "idempotencyKey" }],
			"This Idempotency-Key was already used with a different request body."
		);
	}
}

export class IdempotentRequestInProgressError extends ConflictError {
	constructor() {
		super("A request with this Idempotency-Key is still being processed; retry shortly.", "REQUEST_IN_PROGRESS");
	}
}

/** Unknown or inactive products, or a mix of currencies: the purchase cannot be priced. */
export class UnpurchasableItemsError extends UnprocessableError {
	constructor(errors: FieldError[]) {
		super(errors, "Some items cannot be purchased.");
	}
}
