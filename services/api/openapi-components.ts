/** The parts of the OpenAPI document operations share: headers, the problem schema and responses, success responses. */

import { IDEMPOTENCY_KEY, REQUEST_ID } from "../../lib/params";
import type { JsonSchema } from "../../lib/json-schema";

export interface Parameter {
	name: string;
	in: "path" | "query" | "header";
	required: boolean;
	schema: JsonSchema;
	description?: string;
}

type Ref = { $ref: string };
const ref = (kind: string, name: string): Ref => ({ $ref: `#/components/${kind}/${name}` });

/** Every problem the gateway answers with, by status: the component's name and when it happens. */
const PROBLEMS: Record<number, { name: string; description: string }> = {
	400: { name: "BadRequest", description: "The body is not valid JSON, or cannot be decoded with its Content-Encoding." },
	401: { name: "Unauthorized", description: "No X-API-Key, or one that is not valid." },
	404: { name: "NotFound", description: "Nothing has this id (or, outside the documented paths, no route has this path)." },
	405: { name: "MethodNotAllowed", description: "The path exists, but not with this method; Allow lists those it has." },
	409: { name: "Conflict", description: "The change conflicts with the current state (`code` says which conflict, `data` the details)." },
	413: { name: "PayloadTooLarge", description: "The body is larger than 1 MB." },
	415: { name: "UnsupportedMediaType", description: "The body is not JSON (`application/json`), or has an unsupported encoding or charset." },
	422: { name: "UnprocessableContent", description: "The request's fields are not valid; `errors` names each one." },
	429: { name: "TooManyRequests", description: "This API key has used its requests for the current minute." },
	500: { name: "InternalServerError", description: "The server failed; the failure is logged, the answer has no internals." },
	503: { name: "ServiceUnavailable", description: "A service or database this request needs is not available right now." },
	504: { name: "GatewayTimeout", description: "A service did not answer in time." }
};

/** The headers responses carry; each is there on every response that lists it, unless it says when. */
const HEADERS: Record<string, { description: string; required: boolean; schema: JsonSchema }> = {
	RequestId: { description: "The request's correlation id: the X-Request-Id sent when it was well formed, else a new one.", required: true, schema: { type: "string" } },
	TraceId: {
		description: "The request's trace id (32 hex digits): the trace of a W3C traceparent sent with it, else a new one. Zipkin, the logs and the audit entries know the request by it.",
		required: true,
		schema: { type: "string", pattern: "^[0-9a-f]{32}$" }
	},
	Location: { description: "Where the created resource is served.", required: true, schema: { type: "string", format: "uri-reference" } },
	RetryAfter: { description: "Seconds to wait before trying again.", required: true, schema: { type: "integer", minimum: 1 } },
	RateLimitLimit: { description: "Requests this API key may make per minute.", required: true, schema: { type: "integer", minimum: 1 } },
	RateLimitRemaining: { description: "Requests left in the current minute.", required: true, schema: { type: "integer", minimum: 0 } },
	RateLimitReset: { description: "When the current minute ends, in milliseconds since the Unix epoch.", required: true, schema: { type: "integer" } },
	Allow: { description: "The methods the path has.", required: true, schema: { type: "string" } },
	StaleWarning: {
		description: 'Only on a stale answer (`110 - "Response is Stale"`): the service failed and the gateway answered the last answer it had.',
		required: false,
		schema: { type: "string" }
	},
	StaleCache: { description: "Only on a stale answer: `STALE`.", required: false, schema: { type: "string" } }
};

const header = (name: string) => ref("headers", name);
const REQUEST_ID_HEADER = { "X-Request-ID": header("RequestId"), "X-Trace-Id": header("TraceId") };
const RATE_LIMIT_HEADERS = {
	"X-Rate-Limit-Limit": header("RateLimitLimit"),
	"X-Rate-Limit-Remaining": header("RateLimitRemaining"),
	"X-Rate-Limit-Reset": header("RateLimitReset")
};
/** The headers of a problem besides X-Request-ID, by status. */
const PROBLEM_HEADERS: Record<number, Record<string, unknown>> = {
	405: { Allow: header("Allow") },
	429: { "Retry-After": header("RetryAfter"), ...RATE_LIMIT_HEADERS },
	503: { "Retry-After": header("RetryAfter") }
};

/** An optional request header, documented with the pattern the gateway or service checks it against. */
const optionalHeader = (name: string, pattern: RegExp, description: string): Parameter => ({
	name,
	in: "header",
	required: false,
	description,
	schema: { type: "string", pattern: pattern.source }
});

const PARAMETERS = {
	RequestId: optionalHeader(
		"X-Request-Id",
		REQUEST_ID,
		"The correlation id (one is made when it is missing or does not match): returned in X-Request-ID and carried by every call, event and audit entry the request causes."
	),
	IdempotencyKey: optionalHeader(
		"Idempotency-Key",
		IDEMPOTENCY_KEY,
		"The same key with the same request (path and body) has its effect once and answers what it answered first, for 24 h; with another request it is a 422."
	)
};

const PROBLEM_SCHEMA: JsonSchema = {
	type: "object",
	description: "Problem details (RFC 9457). `code` is the stable name of the problem; other members may be added.",
	properties: {
		type: { type: "string", format: "uri-reference", description: "Identifies the problem; `code` says the same as a name." },
		title: { type: "string" },
		status: { type: "integer", minimum: 400, maximum: 599 },
		detail: { type: "string" },
		instance: { type: "string", description: "The path of the request." },
		code: { type: "string", pattern: "^[A-Z][A-Z0-9_]*$" },
		requestId: { type: "string", description: "The request's correlation id, as in X-Request-ID." },
		traceId: { type: "string", pattern: "^[0-9a-f]{32}$", description: "The request's trace id, as in X-Trace-Id." },
		errors: {
			type: "array",
			description: "Each invalid field (422).",
			items: {
				type: "object",
				properties: { field: { type: "string" }, message: { type: "string" } },
				required: ["field", "message"]
			}
		},
		data: { type: "object", description: "Details of the problem, such as the items short of stock." }
	},
	required: ["type", "title", "status", "detail", "code", "instance", "requestId"]
};

/** One problem response: problem+json whose `status` is the response's. */
function problemResponse(status: number): Record<string, unknown> {
	return {
		description: PROBLEMS[status].description,
		headers: { ...REQUEST_ID_HEADER, ...PROBLEM_HEADERS[status] },
		content: {
			"application/problem+json": {
				schema: { allOf: [ref("schemas", "Problem"), { type: "object", properties: { status: { type: "integer", const: status } } }] }
			}
		}
	};
}

/** The document's `components`: the API key scheme, the shared headers and parameters, the problem schema and responses, and the named schemas. */
export function componentsOf(schemas: Record<string, JsonSchema>): Record<string, Record<string, unknown>> {
	return {
		securitySchemes: { ApiKey: { type: "apiKey", in: "header", name: "X-API-Key" } },
		parameters: PARAMETERS,
		headers: HEADERS,
		schemas: { Problem: PROBLEM_SCHEMA, ...schemas },
		responses: Object.fromEntries(Object.entries(PROBLEMS).map(([status, { name }]) => [name, problemResponse(Number(status))]))
	};
}

/** A reference to the problem response of each status. */
export function problemResponses(statuses: number[]): Record<string, Ref> {
	return Object.fromEntries(statuses.map(status => [String(status), ref("responses", PROBLEMS[status].name)]));
}

/** The headers of a success answer: its X-Request-ID, and the rate limit's when it applies to the route. */
export function successHeaders(rateLimited: boolean): Record<string, unknown> {
	return { ...REQUEST_ID_HEADER, ...(rateLimited ? RATE_LIMIT_HEADERS : {}) };
}

/**
 * 201 with a Location for a POST to a collection (it creates), 204 without a body for a
 * DELETE, else 200 with the answer's schema; a read the gateway may answer stale says so.
 */
export function successResponse(method: string, path: string, answers: JsonSchema, rateLimited: boolean, stale = false): Record<string, unknown> {
	const headers = { ...successHeaders(rateLimited), ...(stale ? { Warning: header("StaleWarning"), "X-Cache": header("StaleCache") } : {}) };
	if (method === "delete") return { 204: { description: "Done; no content.", headers } };
	const content = { "application/json": { schema: answers } };
	if (method !== "post" || path.includes("{")) return { 200: { description: "OK", headers, content } };
	return { 201: { description: "Created", headers: { ...headers, Location: header("Location") }, content } };
}
