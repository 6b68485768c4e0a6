/**
 * Base classes of the domain's errors. Each carries an HTTP status as `code` and a stable
 * string `type`; callers match on `type`, never on the class, because classes do not
 * survive the transporter. The gateway renders them as problem details.
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

/** True for the errors a client caused (4xx), which are not logged as failures. */
export function isClientError(err: unknown): boolean {
	const code = (err as { code?: unknown })?.code;
	return typeof code === "number" && code >= 400 && code < 500;
}

/** Errors that say a dependency is away (not running, unreachable, too slow), not that the request or event is bad. */
const OUTAGE_TYPES = new Set(["SERVICE_NOT_FOUND", "SERVICE_NOT_AVAILABLE", "REQUEST_TIMEOUT", "REQUEST_REJECTED", "REQUEST_SKIPPED", "QUEUE_FULL", "SERVICE_UNAVAILABLE"]);
const OUTAGE_NAMES = /^(KafkaJS|ConnectionError|NoLivingConnectionsError|TimeoutError)/;

/** Sequelize could not reach or log in to the database. */
export function isDatabaseUnreachable(err: unknown): boolean {
	return /^Sequelize(Connection|HostNot|InvalidConnection|AccessDenied)/.test(String((err as { name?: unknown })?.name));
}

export function isOutage(err: unknown): boolean {
	const e = err as { type?: unknown; name?: unknown; code?: unknown };
	return OUTAGE_TYPES.has(String(e?.type)) || OUTAGE_NAMES.test(String(e?.name)) || isDatabaseUnreachable(err) || e?.code === 503;
}
