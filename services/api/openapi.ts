/**
 * The gateway's OpenAPI 3.1 document, derived from the registry's service list: the same
 * `rest` and `params` that route and validate a request describe it, so the two cannot drift.
 */

import { componentsOf, problemResponses, successResponse, type Parameter } from "./openapi-components";
import { isRequired, objectSchema, ruleToSchema, type JsonSchema } from "./openapi-schema";

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
		components: componentsOf()
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
