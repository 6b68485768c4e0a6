/**
 * Every error the gateway answers with, rendered once as RFC 9457 problem details.
 * Client errors keep their message; anything else becomes a plain 500 (or 503/504 when
 * a service is missing or slow) without internals: no stack, no SQL, no data.
 */
import { STATUS_CODES } from "node:http";
import { classify, isDatabaseUnreachable } from "../../lib/failures";

export interface ProblemDetails {
	type: string;
	title: string;
	status: number;
	detail: string;
	instance?: string;
	code: string;
	requestId?: string;
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

/** body-parser's failures, by their `type`. */
const BODY_ERRORS: Record<string, { status: number; code: string; detail: string }> = {
	"entity.parse.failed": { status: 400, code: "MALFORMED_JSON", detail: "The request body is not valid JSON." },
	"entity.too.large": { status: 413, code: "PAYLOAD_TOO_LARGE", detail: "The request body is larger than 1 MB." },
	"encoding.unsupported": { status: 415, code: "UNSUPPORTED_ENCODING", detail: "The request body's content encoding is not supported." },
	"charset.unsupported": { status: 415, code: "UNSUPPORTED_CHARSET", detail: "The request body's charset is not supported." },
	"request.aborted": { status: 400, code: "REQUEST_ABORTED", detail: "The request was aborted while its body was read." },
	"request.size.invalid": { status: 400, code: "INVALID_CONTENT_LENGTH", detail: "The request body does not match its Content-Length." }
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

export function problemTypeUri(code: string): string {
	return `/problems/${code.toLowerCase().replace(/_/g, "-")}`;
}

function validationErrors(data: unknown): { field: string; message: string }[] {
	if (!Array.isArray(data)) return [];
	return data.map((item: { field?: unknown; message?: unknown }) => ({
		field: typeof item.field === "string" && item.field !== "" ? item.field : "(body)",
		message: String(item.message ?? "is invalid")
	}));
}

function problem(status: number, code: string, detail: string, extra: Partial<ProblemDetails> = {}): ProblemDetails {
	return { type: problemTypeUri(code), title: STATUS_CODES[status] ?? "Error", status, detail, code, ...extra };
}

/** Turns any thrown value into problem details; `internal` is true when it should be logged as a failure. */
export function toProblem(err: unknown): { problem: ProblemDetails; internal: boolean } {
	const e = (err ?? {}) as ErrorLike;
	const type = typeof e.type === "string" ? e.type : "";

	const body = BODY_ERRORS[type];
	if (body) return { problem: problem(body.status, body.code, body.detail), internal: false };
	// zlib's failures (Z_DATA_ERROR, Z_BUF_ERROR, ...): the body is not what its Content-Encoding says.
	if (typeof e.code === "string" && /^Z_[A-Z_]+$/.test(e.code))
		return { problem: problem(400, "UNDECODABLE_BODY", "The request body could not be decoded with its Content-Encoding."), internal: false };

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
