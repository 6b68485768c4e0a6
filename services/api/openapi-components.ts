/** The parts of the OpenAPI document every operation shares: headers, problem responses, success responses. */

import { IDEMPOTENCY_KEY, REQUEST_ID } from "../../lib/params";
import type { JsonSchema } from "./openapi-schema";

export interface Parameter {
	name: string;
	in: "path" | "query" | "header";
	required: boolean;
	schema: JsonSchema;
	description?: string;
}

const PROBLEM_RESPONSES: Record<string, string> = {
	400: "BadRequest",
	401: "Unauthorized",
	404: "NotFound",
	409: "Conflict",
	413: "PayloadTooLarge",
	422: "UnprocessableContent",
	500: "InternalServerError"
};

/** An optional request header, documented with the pattern the gateway or service checks it against. */
const optionalHeader = (name: string, pattern: RegExp, description: string): Parameter => ({
	name,
	in: "header",
	required: false,
	description,
	schema: { type: "string", pattern: pattern.source }
});

/** Headers every operation takes or gives, besides the key. */
const REQUEST_ID_HEADER = optionalHeader(
	"X-Request-Id",
	REQUEST_ID,
	"The correlation id (one is made when it is missing or does not match): returned in X-Request-ID and carried by every call, event and audit entry the request causes."
);
const IDEMPOTENCY_KEY_HEADER = optionalHeader(
	"Idempotency-Key",
	IDEMPOTENCY_KEY,
	"The same key with the same body answers the same result, done once; with another body it is a 422."
);
const RESPONSE_HEADERS = { "X-Request-ID": { description: "The request's correlation id.", schema: { type: "string" } } };

const PROBLEM_SCHEMA: JsonSchema = {
	type: "object",
	description: "Problem details (RFC 9457).",
	properties: {
		type: { type: "string" },
		title: { type: "string" },
		status: { type: "integer" },
		detail: { type: "string" },
		instance: { type: "string" },
		code: { type: "string" },
		errors: {
			type: "array",
			items: {
				type: "object",
				properties: { field: { type: "string" }, message: { type: "string" } },
				required: ["field", "message"]
			}
		}
	},
	required: ["title", "status"]
};

/** The document's `components`: the API key scheme, the shared headers, and the problem schema and responses. */
export function componentsOf(): Record<string, Record<string, unknown>> {
	return {
		securitySchemes: { ApiKey: { type: "apiKey", in: "header", name: "X-API-Key" } },
		parameters: { RequestId: REQUEST_ID_HEADER, IdempotencyKey: IDEMPOTENCY_KEY_HEADER },
		schemas: { Problem: PROBLEM_SCHEMA },
		responses: Object.fromEntries(
			Object.values(PROBLEM_RESPONSES).map(name => [
				name,
				{ description: name, content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } } }
			])
		)
	};
}

/** 201 for a POST to a collection (it creates), 204 for a DELETE, else 200. */
export function successResponse(method: string, path: string): Record<string, unknown> {
	if (method === "delete") return { 204: { description: "No Content", headers: RESPONSE_HEADERS } };
	const content = { "application/json": { schema: {} } };
	if (method !== "post" || path.includes("{")) return { 200: { description: "OK", headers: RESPONSE_HEADERS, content } };
	const location = { Location: { description: "Where the created resource is served.", schema: { type: "string" } } };
	return { 201: { description: "Created", headers: { ...RESPONSE_HEADERS, ...location }, content } };
}

/** A reference to each problem response, keyed by its status. */
export function problemResponses(): Record<string, unknown> {
	return Object.fromEntries(
		Object.entries(PROBLEM_RESPONSES).map(([status, name]) => [status, { $ref: `#/components/responses/${name}` }])
	);
}
