/**
 * The gateway's OpenAPI 3.1 document, derived from the registry's service list: the same
 * `rest` and `params` that route and validate a request describe it, and each action's
 * `openapi` (lib/json-schema.ts) gives its summary and the schema of its answer, so the
 * document and the server cannot drift.
 */

import type { ActionDoc, JsonSchema } from "../../lib/json-schema";
import { componentsOf, problemResponses, successResponse, type Parameter } from "./openapi-components";
import { gatewayPaths } from "./openapi-gateway";
import { isRequired, objectSchema, ruleToSchema } from "./openapi-schema";
import { takesBody } from "./request-body";

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
	/** The gateway may answer the read with its last known answer, marked stale, when the service fails (lib/resilience.ts). */
	staleFallback?: boolean;
	openapi?: ActionDoc;
}

export interface OpenApiOptions {
	title: string;
	version: string;
	basePath: string;
	/** Requests per minute per API key on the basePath routes; 0 or none: no rate limit. */
	rateLimit?: number;
}

interface Operation {
	operationId: string;
	tags: string[];
	summary: string;
	parameters?: (Parameter | { $ref: string })[];
	requestBody?: { required: boolean; content: { "application/json": { schema: JsonSchema } } };
	responses: Record<string, unknown>;
}

export interface OpenApiDocument {
	openapi: "3.1.0";
	info: Record<string, unknown> & { title: string; version: string };
	servers: { url: string }[];
	security: Record<string, string[]>[];
	tags: { name: string; description: string }[];
	paths: Record<string, Record<string, Operation>>;
	components: Record<string, Record<string, unknown>>;
}

type Rule = Record<string, unknown>;

const METHODS = new Set(["get", "delete", "head", "options", "post", "put", "patch"]);

/** What each tag groups; a service without an entry is tagged by its name alone. */
const TAGS: Record<string, string> = {
	products: "The catalog: products with exact prices, unique skus, search, filters and pages.",
	inventory: "Stock per product (on hand, reserved, available) and its ledger of movements.",
	purchases: "Orders priced from the catalog that reserve their stock: PENDING, CONFIRMED, CANCELLED, COMPLETED.",
	audit: "Every domain event and every write request, searchable, newest first.",
	health: "Liveness and readiness, without a key.",
	docs: "This document and Swagger UI over it, without a key."
};

const DESCRIPTION = [
	"A horizontally scalable product inventory backend.",
	"",
	"Every `/api/v1` route needs `X-API-Key`. Bodies are JSON (`application/json`). Every error is problem details",
	"(RFC 9457, `application/problem+json`) with a stable `code`; a path that exists without the request's method is",
	"a 405 (`#/components/responses/MethodNotAllowed`) with `Allow`, any other path a 404; a path with a segment that",
	"is not valid percent-encoded UTF-8 (`%zz`) is a 400 `MALFORMED_PATH` on any path and method, before the key.",
	"Every path with a GET answers HEAD as that GET without its body; every path answers OPTIONS with a 204, its",
	"methods in `Allow`, `X-Request-ID` and `X-Trace-Id`, without a key. Every answer of these",
	"operations carries `X-Request-ID` and `X-Trace-Id`. Money has at most two decimals, exactly (`x-decimal-places: 2`)."
].join("\n");

/** The OpenAPI 3.1 document of every published action with a `rest` of the given services, and of the gateway's own routes. */
export function buildOpenApi(services: ServiceDescription[], options: OpenApiOptions): OpenApiDocument {
	const paths: OpenApiDocument["paths"] = {};
	const schemas: Record<string, JsonSchema> = {};
	const rateLimited = (options.rateLimit ?? 0) > 0;
	for (const service of services) {
		if (service.name.startsWith("$")) continue;
		for (const action of Object.values(service.actions ?? {})) {
			const route = routeOf(action, options.basePath + (service.settings?.rest ?? `/${service.name}`));
			// Without grouping the registry lists a service once per node; the first copy wins.
			if (!route || paths[route.path]?.[route.method]) continue;
			const operation = operationOf(service.name, action, route, rateLimited);
			paths[route.path] = { ...paths[route.path], [route.method]: named(operation, schemas) as Operation };
		}
	}
	const gateway = named(gatewayPaths(), schemas) as OpenApiDocument["paths"];
	const allPaths = { ...paths, ...gateway };
	const usedTags = new Set(Object.values(allPaths).flatMap(item => Object.values(item).flatMap(op => op.tags)));
	return {
		openapi: "3.1.0",
		info: {
			title: options.title,
			version: options.version,
			description: DESCRIPTION,
			contact: { name: "product-inventory maintainers" },
			license: { name: "MIT", identifier: "MIT" }
		},
		servers: [{ url: "/" }],
		security: [{ ApiKey: [] }],
		tags: [...usedTags].map(name => ({ name, description: TAGS[name] ?? name })),
		paths: allPaths,
		components: componentsOf(schemas)
	};
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

/**
 * The problems an operation of the key-protected routes can answer: any request can be
 * refused for its body (400, 413, 415: the reader reads any method's body before it refuses
 * one on a GET or DELETE), its key (401), its fields (422) or the rate limit (429), and can
 * fail (500, 503, 504); a path with an id can name nothing (404); a change can conflict (409).
 */
function problemStatuses(method: string, path: string, rateLimited: boolean): number[] {
	return [
		400,
		401,
		...(path.includes("{") ? [404] : []),
		...(takesBody(method) ? [409] : []),
		413,
		415,
		422,
		...(rateLimited ? [429] : []),
		500,
		503,
		504
	];
}

function operationOf(tag: string, action: ActionDescription, route: { method: string; path: string }, rateLimited: boolean): Operation {
	const params = action.params ?? {};
	const pathNames = [...route.path.matchAll(/\{([^}]+)\}/g)].map(m => m[1]);
	const others = Object.keys(params).filter(key => !key.startsWith("$$") && !pathNames.includes(key));
	const parameters: Parameter[] = pathNames.map(name => ({
		name,
		in: "path",
		required: true,
		schema: name in params ? ruleToSchema(params[name]) : { type: "string" }
	}));
	const hasBody = takesBody(route.method);
	if (!hasBody)
		for (const name of others)
			parameters.push({ name, in: "query", required: isRequired(params[name]), schema: ruleToSchema(params[name]) });

	const headers = [{ $ref: "#/components/parameters/RequestId" }, ...(action.readsIdempotencyKey ? [{ $ref: "#/components/parameters/IdempotencyKey" }] : [])];

	const doc = action.openapi;
	const body = hasBody && others.length ? bodySchema(pick(params, others), params.$$strict === true, doc?.bodyRules) : undefined;
	return {
		operationId: action.name.replace(/[^A-Za-z0-9_]/g, "_"),
		tags: [tag],
		summary: doc?.summary ?? action.description ?? action.name,
		parameters: [...parameters, ...headers],
		// A body whose every field is optional may be left out (cancel's `reason`).
		...(body ? { requestBody: { required: others.some(key => isRequired(params[key])), content: { "application/json": { schema: body } } } } : {}),
		responses: {
			...successResponse(route.method, route.path, doc?.answers ?? {}, rateLimited, action.staleFallback === true),
			...problemResponses(problemStatuses(route.method, route.path, rateLimited))
		}
	};
}

function bodySchema(props: Rule, strict: boolean, rules: JsonSchema | undefined): JsonSchema {
	const schema = objectSchema(props, strict);
	return rules ? { ...schema, allOf: [rules] } : schema;
}

function pick(params: Rule, keys: string[]): Rule {
	return Object.fromEntries(keys.map(key => [key, params[key]]));
}

/**
 * `value` with every schema that has a `title` moved to `schemas` under that title and
 * referred to from where it was; the first schema of a title wins (nodes of one version agree).
 */
function named(value: unknown, schemas: Record<string, JsonSchema>): unknown {
	if (Array.isArray(value)) return value.map(item => named(item, schemas));
	if (!value || typeof value !== "object") return value;
	const entries = Object.entries(value).map(([key, item]) => [key, named(item, schemas)]);
	const copy = Object.fromEntries(entries) as JsonSchema;
	const title = copy.title;
	if (typeof title !== "string" || !/^[A-Za-z][A-Za-z0-9]*$/.test(title) || copy.type === undefined) return copy;
	schemas[title] ??= copy;
	return { $ref: `#/components/schemas/${title}` };
}
