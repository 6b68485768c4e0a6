/**
 * The gateway's OpenAPI 3.1 document, derived from the registry's service list: the same
 * `rest` and `params` that route and validate a request describe it, so the two cannot drift.
 */

import { IDEMPOTENCY_KEY, REQUEST_ID } from "../../lib/params";

export interface ServiceDescription {
	name: string;
	settings?: { rest?: string };
	/** Keyed by full action name, e.g. "products.get". */
	actions?: Record<string, ActionDescription>;
}

export interface ActionDescription {
	name: string;
	rest?: string | { method?: string; path?: string };
	params?: Record<string, unknown>;
	description?: string;
	visibility?: string;
	/** The action reads the `Idempotency-Key` header (the gateway passes it on in meta). */
	readsIdempotencyKey?: boolean;
}

export interface OpenApiOptions {
	title: string;
	version: string;
	basePath: string;
}

export type JsonSchema = Record<string, unknown>;

export interface Parameter {
	name: string;
	in: "path" | "query" | "header";
	required: boolean;
	schema: JsonSchema;
	description?: string;
}

interface Operation {
	operationId: string;
	tags: string[];
	summary?: string;
	parameters?: (Parameter | { $ref: string })[];
	requestBody?: { required: true; content: { "application/json": { schema: JsonSchema } } };
	responses: Record<string, unknown>;
}

export interface OpenApiDocument {
	openapi: "3.1.0";
	info: { title: string; version: string };
	servers: { url: string }[];
	security: Record<string, string[]>[];
	paths: Record<string, Record<string, Operation>>;
	components: Record<string, Record<string, unknown>>;
}

type Rule = Record<string, unknown>;

const BODY_METHODS = new Set(["post", "put", "patch"]);
const METHODS = new Set(["get", "delete", "head", "options", ...BODY_METHODS]);

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

/** The OpenAPI 3.1 document of every published action with a `rest` of the given services. */
export function buildOpenApi(services: ServiceDescription[], options: OpenApiOptions): OpenApiDocument {
	const paths: OpenApiDocument["paths"] = {};
	for (const service of services) {
		if (service.name.startsWith("$")) continue;
		for (const action of Object.values(service.actions ?? {})) {
			const route = routeOf(action, options.basePath + (service.settings?.rest ?? `/${service.name}`));
			// Without grouping the registry lists a service once per node; the first copy wins.
			if (!route || paths[route.path]?.[route.method]) continue;
			paths[route.path] = { ...paths[route.path], [route.method]: operationOf(service.name, action, route) };
		}
	}
	return {
		openapi: "3.1.0",
		info: { title: options.title, version: options.version },
		servers: [{ url: "/" }],
		security: [{ ApiKey: [] }],
		paths,
		components: {
			securitySchemes: { ApiKey: { type: "apiKey", in: "header", name: "X-API-Key" } },
			parameters: { RequestId: REQUEST_ID_HEADER, IdempotencyKey: IDEMPOTENCY_KEY_HEADER },
			schemas: { Problem: PROBLEM_SCHEMA },
			responses: Object.fromEntries(
				Object.values(PROBLEM_RESPONSES).map(name => [
					name,
					{ description: name, content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } } }
				])
			)
		}
	};
}

/** The JSON Schema of one fastest-validator rule (shorthand string, object, or array of alternatives). */
export function ruleToSchema(rule: unknown): JsonSchema {
	const normalized = normalizeRule(rule);
	if (Array.isArray(normalized)) {
		const schema: JsonSchema = { oneOf: normalized.map(ruleToSchema) };
		return normalized.every(r => (normalizeRule(r) as Rule).nullable === true) ? nullable(schema) : schema;
	}
	let schema = typeSchema(normalized);
	if (normalized.nullable === true) schema = nullable(schema);
	if (normalized.default !== undefined && typeof normalized.default !== "function") schema.default = normalized.default;
	return schema;
}

function routeOf(action: ActionDescription, servicePath: string): { method: string; path: string } | undefined {
	const rest = action.rest;
	if (!rest || (action.visibility != null && action.visibility !== "published")) return undefined;
	const [method, actionPath] =
		typeof rest === "string" ? splitRest(rest) : [rest.method ?? "*", rest.path ?? action.name.slice(action.name.lastIndexOf(".") + 1)];
	// A rest without a method ("/import") matches every method, which one operation cannot say.
	if (!METHODS.has(method.toLowerCase())) return undefined;
	const path = `${servicePath}/${actionPath}`
		.replace(/\/{2,}/g, "/")
		.replace(/(.)\/$/, "$1")
		.replace(/:([A-Za-z0-9_]+)\??/g, "{$1}");
	return { method: method.toLowerCase(), path };
}

function splitRest(rest: string): [string, string] {
	const [method, path] = rest.trim().split(/\s+/);
	return path === undefined ? ["*", method] : [method, path];
}

function operationOf(tag: string, action: ActionDescription, route: { method: string; path: string }): Operation {
	const params = action.params ?? {};
	const pathNames = [...route.path.matchAll(/\{([^}]+)\}/g)].map(m => m[1]);
	const others = Object.keys(params).filter(key => !key.startsWith("$$") && !pathNames.includes(key));
	const parameters: Parameter[] = pathNames.map(name => ({
		name,
		in: "path",
		required: true,
		schema: name in params ? ruleToSchema(params[name]) : { type: "string" }
	}));
	const hasBody = BODY_METHODS.has(route.method);
	if (!hasBody)
		for (const name of others)
			parameters.push({ name, in: "query", required: isRequired(params[name]), schema: ruleToSchema(params[name]) });

	const headers = [{ $ref: "#/components/parameters/RequestId" }, ...(action.readsIdempotencyKey ? [{ $ref: "#/components/parameters/IdempotencyKey" }] : [])];

	const body = hasBody && others.length ? objectSchema(pick(params, others), params.$$strict === true) : undefined;
	return {
		operationId: action.name.replace(/[^A-Za-z0-9_]/g, "_"),
		tags: [tag],
		...(action.description ? { summary: action.description } : {}),
		parameters: [...parameters, ...headers],
		...(body ? { requestBody: { required: true, content: { "application/json": { schema: body } } } } : {}),
		responses: { ...successResponse(route.method, route.path), ...problemResponses() }
	};
}

function pick(params: Rule, keys: string[]): Rule {
	return Object.fromEntries(keys.map(key => [key, params[key]]));
}

/** 201 for a POST to a collection (it creates), 204 for a DELETE, else 200. */
function successResponse(method: string, path: string): Record<string, unknown> {
	if (method === "delete") return { 204: { description: "No Content", headers: RESPONSE_HEADERS } };
	const content = { "application/json": { schema: {} } };
	if (method !== "post" || path.includes("{")) return { 200: { description: "OK", headers: RESPONSE_HEADERS, content } };
	const location = { Location: { description: "Where the created resource is served.", schema: { type: "string" } } };
	return { 201: { description: "Created", headers: { ...RESPONSE_HEADERS, ...location }, content } };
}

function problemResponses(): Record<string, unknown> {
	return Object.fromEntries(
		Object.entries(PROBLEM_RESPONSES).map(([status, name]) => [status, { $ref: `#/components/responses/${name}` }])
	);
}

// Mirrors fastest-validator: a default fills a missing value, and alternatives are optional only when all are.
function isRequired(rule: unknown): boolean {
	const normalized = normalizeRule(rule);
	if (Array.isArray(normalized)) return !normalized.every(r => (normalizeRule(r) as Rule).optional === true);
	return normalized.optional !== true && normalized.default === undefined;
}

function normalizeRule(rule: unknown): Rule | unknown[] {
	if (typeof rule === "string") return parseShorthand(rule);
	if (Array.isArray(rule)) return rule;
	if (!rule || typeof rule !== "object") return {};
	const { $$type, ...props } = rule as Rule;
	return typeof $$type === "string" ? { ...parseShorthand($$type), props } : (rule as Rule);
}

// "string|min:3|optional", "number|no-convert", "string[]", as fastest-validator reads them.
function parseShorthand(text: string): Rule {
	const [type, ...flags] = text.split("|").map(s => s.trim());
	const rule: Rule = type.endsWith("[]") ? { type: "array", items: type.slice(0, -2) } : { type };
	for (const flag of flags) {
		const colon = flag.indexOf(":");
		if (colon === -1) rule[flag.startsWith("no-") ? flag.slice(3) : flag] = !flag.startsWith("no-");
		else rule[flag.slice(0, colon).trim()] = shorthandValue(flag.slice(colon + 1).trim());
	}
	return rule;
}

function shorthandValue(value: string): unknown {
	if (value === "true" || value === "false") return value === "true";
	return Number.isNaN(Number(value)) ? value : Number(value);
}

function typeSchema(rule: Rule): JsonSchema {
	switch (rule.type) {
		case "string":
			return stringSchema(rule);
		case "uuid":
			return { type: "string", format: "uuid" };
		case "email":
			return { type: "string", format: "email" };
		case "url":
			return { type: "string", format: "uri" };
		case "date":
			return { type: "string", format: "date-time" };
		case "boolean":
			return { type: "boolean" };
		case "number":
			return numberSchema(rule);
		case "enum":
			return enumSchema(Array.isArray(rule.values) ? rule.values : []);
		case "array":
			return arraySchema(rule);
		case "object": {
			const props = rule.props ?? rule.properties;
			return props && typeof props === "object" ? objectSchema(props as Rule, rule.strict === true) : { type: "object" };
		}
		case "multi":
			return Array.isArray(rule.rules) ? { oneOf: rule.rules.map(ruleToSchema) } : {};
		default:
			return {};
	}
}

function stringSchema(rule: Rule): JsonSchema {
	const schema: JsonSchema = { type: "string" };
	const min = rule.length ?? rule.min ?? (rule.empty === false ? 1 : undefined);
	const max = rule.length ?? rule.max;
	if (typeof min === "number") schema.minLength = min;
	if (typeof max === "number") schema.maxLength = max;
	const pattern = patternOf(rule.pattern);
	if (pattern !== undefined) schema.pattern = pattern;
	if (Array.isArray(rule.enum)) schema.enum = rule.enum;
	return schema;
}

// A RegExp that crossed a transporter arrives as `{}`; flags JSON Schema cannot carry would make the pattern lie.
function patternOf(pattern: unknown): string | undefined {
	if (typeof pattern === "string") return pattern;
	if (pattern instanceof RegExp && !/[ims]/.test(pattern.flags)) return pattern.source;
	return undefined;
}

function numberSchema(rule: Rule): JsonSchema {
	const schema: JsonSchema = { type: rule.integer === true ? "integer" : "number" };
	if (typeof rule.min === "number") schema.minimum = rule.min;
	if (typeof rule.max === "number") schema.maximum = rule.max;
	if (rule.positive === true) schema.exclusiveMinimum = 0;
	if (rule.negative === true) schema.exclusiveMaximum = 0;
	if (typeof rule.multipleOf === "number") schema.multipleOf = rule.multipleOf;
	return schema;
}

function enumSchema(values: unknown[]): JsonSchema {
	return values.every(v => typeof v === "string") ? { type: "string", enum: values } : { enum: values };
}

function arraySchema(rule: Rule): JsonSchema {
	const schema: JsonSchema = { type: "array" };
	if (rule.items !== undefined) schema.items = ruleToSchema(rule.items);
	const min = rule.length ?? rule.min ?? (rule.empty === false ? 1 : undefined);
	const max = rule.length ?? rule.max;
	if (typeof min === "number") schema.minItems = min;
	if (typeof max === "number") schema.maxItems = max;
	if (rule.unique === true) schema.uniqueItems = true;
	return schema;
}

function objectSchema(props: Rule, strict: boolean): JsonSchema {
	const keys = Object.keys(props).filter(key => !key.startsWith("$$"));
	const required = keys.filter(key => isRequired(props[key]));
	return {
		type: "object",
		properties: Object.fromEntries(keys.map(key => [key, ruleToSchema(props[key])])),
		...(required.length ? { required } : {}),
		...(strict ? { additionalProperties: false } : {})
	};
}

function nullable(schema: JsonSchema): JsonSchema {
	if (Array.isArray(schema.oneOf)) return { ...schema, oneOf: [...schema.oneOf, { type: "null" }] };
	if (typeof schema.type !== "string" && !Array.isArray(schema.enum)) return schema;
	return {
		...schema,
		...(typeof schema.type === "string" ? { type: [schema.type, "null"] } : {}),
		...(Array.isArray(schema.enum) ? { enum: [...schema.enum, null] } : {})
	};
}
