/**
 * Every error the gateway answers with, rendered once as RFC 9457 problem details.
 * Client errors keep their message; anything else becomes a plain 500 (or 503/504 when
 * a service is missing or slow) without internals: no stack, no SQL, no data.
 */
import { STATUS_CODES } from "node:http";
import { classify, isDatabaseUnreachable } from "../../lib/failures";

/**
 * Every problem's `type`: RFC 9457's "about:blank", so `title` is the status's own phrase
 * and no client follows a link that leads nowhere; the stable `code` names the problem.
 */
const PROBLEM_TYPE = "about:blank";

export interface ProblemDetails {
	type: string;
	title: string;
	status: number;
	detail: string;
	instance?: string;
	code: string;
	requestId?: string;
	/** The request's trace id, as in X-Trace-Id: find the trace in Zipkin and the logs by it. */
	traceId?: string;
	errors?: { field: string; message: string }[];
	[extension: string]: unknown;
}

interface ErrorLike {
	name?: string;
	message?: string;
	code?: unknown;
	status?: unknown;
	statusCode?: unknown;
	type?: unknown;
	data?: unknown;
}

/**
 * How Node's HTTP parser's refusals are answered (its `clientError`: the request never
 * reached the gateway). Anything not listed is framing Node cannot read: a 400.
 */
const FRAMING_ERRORS: Record<string, { status: number; code: string; detail: string }> = {
	HPE_HEADER_OVERFLOW: { status: 431, code: "HEADERS_TOO_LARGE", detail: "The request's headers are larger than the server accepts." },
	ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: "REQUEST_INCOMPLETE", detail: "The request did not arrive whole in time." }
};
const MALFORMED_REQUEST = {
	status: 400,
	code: "MALFORMED_REQUEST",
	detail: "The request is not well-formed HTTP/1.1 (for example a Content-Length that does not match the body, or both Content-Length and Transfer-Encoding)."
};

/** How each "try again later" of the cluster (lib/failures: not-run, busy, timeout) is answered. */
const UNAVAILABLE: Record<string, { status: number; detail: string }> = {
	SERVICE_NOT_FOUND: { status: 503, detail: "A service needed for this request is not running." },
	SERVICE_NOT_AVAILABLE: { status: 503, detail: "A service needed for this request is not available." },
	SERVICE_UNAVAILABLE: { status: 503, detail: "A service needed for this request is not available." },
	REQUEST_REJECTED: { status: 503, detail: "The request was rejected; try again later." },
	QUEUE_FULL: { status: 503, detail: "The service is busy; try again later." },
	REQUEST_TIMEOUT: { status: 504, detail: "A service did not answer in time." }
};

function validationErrors(data: unknown): { field: string; message: string }[] {
	if (!Array.isArray(data)) return [];
	return data.map((item: { field?: unknown; message?: unknown }) => ({
		field: typeof item.field === "string" && item.field !== "" ? item.field : "(body)",
		message: String(item.message ?? "is invalid")
	}));
}

function problem(status: number, code: string, detail: string, extra: Partial<ProblemDetails> = {}): ProblemDetails {
	return { type: PROBLEM_TYPE, title: STATUS_CODES[status] ?? "Error", status, detail, code, ...extra };
}

/** The problem for a request Node's HTTP parser refused (`clientError`). */
export function framingProblem(err: { code?: unknown }): ProblemDetails {
	const { status, code, detail } = (typeof err.code === "string" && FRAMING_ERRORS[err.code]) || MALFORMED_REQUEST;
	return problem(status, code, detail);
}

/** Turns any thrown value into problem details; `internal` is true when it should be logged as a failure. */
export function toProblem(err: unknown): { problem: ProblemDetails; internal: boolean } {
	const e = (err ?? {}) as ErrorLike;
	const type = typeof e.type === "string" ? e.type : "";

	if (isDatabaseUnreachable(err))
		return { problem: problem(503, "DATABASE_UNAVAILABLE", "The database cannot be reached right now; try again shortly."), internal: true };

	const kind = classify(err);
	const unavailable = kind === "not-run" || kind === "busy" || kind === "timeout" ? UNAVAILABLE[type] : undefined;
	if (unavailable) return { problem: problem(unavailable.status, type, unavailable.detail), internal: false };

	const status = [e.code, e.status, e.statusCode].find(
		(c): c is number => typeof c === "number" && c >= 400 && c < 500
	);
	if (status === undefined)
		return {
			problem: problem(500, "INTERNAL_ERROR", "The server failed to handle this request; it has been logged."),
			internal: true
		};

	if (status === 429)
		return {
			problem: problem(429, "RATE_LIMIT_EXCEEDED", "This API key has used its requests for this minute; retry after Retry-After seconds."),
			internal: false
		};
	const code = type || (STATUS_CODES[status] ?? "ERROR").toUpperCase().replace(/\W+/g, "_");
	if (status === 422 || type === "VALIDATION_ERROR") {
		const errors = validationErrors(e.data);
		return {
			problem: problem(422, "VALIDATION_ERROR", errors.length > 0 ? "The request has invalid fields." : String(e.message), {
				errors
			}),
			internal: false
		};
	}
	const data = e.data && typeof e.data === "object" && !Array.isArray(e.data) ? { data: e.data } : {};
	return { problem: problem(status, code, String(e.message ?? STATUS_CODES[status]), data), internal: false };
}
