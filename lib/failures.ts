/**
 * The one place that says what a failure means: a dependency away (retry later) or
 * a request that was wrong or a bug (retrying does not help). Classes do not survive
 * the transporter, so errors are matched on `type`, `name` and `code`.
 */
import type { PlainFailure } from "../contracts/errors";

/**
 * - `not-run`: the node asked had no such service or was leaving; no handler ran.
 * - `busy`: the callee refused or shed the request (rejected, queue full, unavailable).
 * - `timeout`: the callee did not answer in time; it may have run.
 * - `database`: the database cannot be reached or logged in to.
 * - `outage`: another dependency is away (Kafka, a connection, a 503, a skipped call).
 * - `client`: the request was wrong (a 4xx).
 * - `failure`: anything else, a bug or a broken invariant.
 */
export type FailureClass = "not-run" | "busy" | "timeout" | "database" | "outage" | "client" | "failure";

const BY_TYPE = new Map<string, FailureClass>([
	["SERVICE_NOT_FOUND", "not-run"],
	["SERVICE_NOT_AVAILABLE", "not-run"],
	["REQUEST_REJECTED", "busy"],
	["QUEUE_FULL", "busy"],
	["SERVICE_UNAVAILABLE", "busy"],
	["REQUEST_TIMEOUT", "timeout"],
	["REQUEST_SKIPPED", "outage"]
]);
const OUTAGE_NAMES = /^(KafkaJS|ConnectionError|NoLivingConnectionsError|TimeoutError)/;
const OUTAGES = new Set<FailureClass>(["not-run", "busy", "timeout", "database", "outage"]);

interface ErrorLike {
	type?: unknown;
	name?: unknown;
	code?: unknown;
	meta?: { statusCode?: unknown };
}

/** What kind of failure `err` is; the `type` wins over the name, the name over the code. */
export function classify(err: unknown): FailureClass {
	const e = (err ?? {}) as ErrorLike;
	const byType = BY_TYPE.get(String(e.type));
	if (byType) return byType;
	if (isDatabaseUnreachable(err)) return "database";
	if (OUTAGE_NAMES.test(String(e.name)) || e.code === 503) return "outage";
	if (typeof e.code === "number" && e.code >= 400 && e.code < 500) return "client";
	return "failure";
}

/** A dependency is away (not running, unreachable, too slow), not the request or event is bad. */
export function isOutage(err: unknown): boolean {
	return OUTAGES.has(classify(err));
}

/** Sequelize could not reach or log in to the database. */
export function isDatabaseUnreachable(err: unknown): boolean {
	return /^Sequelize(Connection|HostNot|InvalidConnection|AccessDenied)/.test(String((err as ErrorLike)?.name));
}

/** The node asked refused before running the action, so it is safe to send again, even for actions never retried. */
export function wasNotRun(err: unknown): boolean {
	return classify(err) === "not-run";
}

/** An HTTP client's error saying the remote service is away, starting up or overloaded (no connection, a timeout, 429, 5xx). */
export function isUnavailableAnswer(err: unknown): boolean {
	const e = err as ErrorLike;
	const status = e?.meta?.statusCode as number | undefined;
	return /Connection|Timeout|NoLivingConnections/.test(String(e?.name)) || status === 429 || (status !== undefined && status >= 500);
}

/** A failure as a dead-letter header tells it: with the database's own words, which Sequelize's "Validation error" hides. */
export function failureReason(err: unknown): string {
	const { message, parent } = (err ?? {}) as { message?: unknown; parent?: { message?: unknown } };
	const text = String(message ?? err);
	const cause = parent?.message === undefined ? undefined : String(parent.message);
	return (cause && cause !== text ? `${text}: ${cause}` : text).slice(0, 1000);
}

/** `err` as one item of a batch answers it. */
export function plainFailure(err: unknown): PlainFailure {
	const { name, message, code, type } = (err ?? {}) as Partial<PlainFailure>;
	return { name: String(name ?? "Error"), message: String(message ?? err), ...(typeof code === "number" ? { code } : {}), ...(type ? { type: String(type) } : {}) };
}

/** The error a plain failure stands for, classified as the original would be. */
export function failureFrom({ name, message, code, type }: PlainFailure): Error {
	return Object.assign(new Error(message), { name, code, type });
}
