/**
 * Base classes of the domain's errors, and the errors of idempotency keys every keyed write
 * shares. Each carries an HTTP status as `code` and a stable string `type`; callers match on
 * `type`, never on the class, because classes do not survive the transporter. The gateway
 * renders them as problem details.
 */
import { Errors } from "moleculer";

export class NotFoundError extends Errors.MoleculerClientError {
	constructor(message: string, type: string, data?: Record<string, unknown>) {
		super(message, 404, type, data);
	}
}

export class ConflictError extends Errors.MoleculerClientError {
	constructor(message: string, type: string, data?: Record<string, unknown>) {
		super(message, 409, type, data);
	}
}

export interface FieldError {
	field: string;
	message: string;
	type?: string;
}

/** A 422 in the same shape as the validator's, for rules a schema cannot express. */
export class UnprocessableError extends Errors.ValidationError {
	constructor(errors: FieldError[], message = "Parameters validation error!") {
		super(message, "VALIDATION_ERROR", errors);
	}
}

/** A `cursor` query parameter that is not one this list handed out (or one of another sort): a 400. */
export class InvalidCursorError extends Errors.MoleculerClientError {
	constructor(why: string) {
		super(`The cursor is not valid: ${why}. Use a nextCursor from a page of this list with the same sort.`, 400, "INVALID_CURSOR", { field: "cursor" });
	}
}

/** An idempotency key sent again with another request (another action, path or body) than the one it was first used for. */
export class IdempotencyKeyReusedError extends UnprocessableError {
	constructor() {
		super(
			[{ field: "Idempotency-Key", message: "was already used with a different request", type: "idempotencyKey" }],
			"This Idempotency-Key was already used with a different request."
		);
	}
}

/** An idempotency key whose first request has not finished: its answer is not known yet. */
export class IdempotentRequestInProgressError extends ConflictError {
	constructor() {
		super("A request with this Idempotency-Key is still being processed; retry shortly.", "REQUEST_IN_PROGRESS");
	}
}

/** A failure as it crosses the transporter inside an answer (one item of a batch failing): what lib/failures.ts classifies. */
export interface PlainFailure {
	name: string;
	message: string;
	code?: number;
	type?: string;
}

/** What a batch action answers for each item, in order: the item's own answer, or the failure that leaves it for another attempt. */
export type ItemAnswer<A> = A | { failure: PlainFailure };
