import { buildOpenApi, type OpenApiDocument, type ServiceDescription } from "../../services/api/openapi";
import type { Parameter } from "../../services/api/openapi-components";
import { ruleToSchema } from "../../services/api/openapi-schema";
import { money } from "../../lib/params";
import { TWO_DECIMALS } from "../../contracts/money";
import { MAX_PRICE } from "../../contracts/money";

const options = { title: "Product inventory", version: "1.0.0", basePath: "/api/v1" };

type Operation = OpenApiDocument["paths"][string][string];
/** An operation's own parameters (path and query), without the shared headers it refers to. */
const own = (op: Operation) => op.parameters?.filter((p): p is Parameter => !("$ref" in p));

const products: ServiceDescription = {
	name: "products",
	settings: { rest: "/products" },
	actions: {
		"products.list": {
			name: "products.list",
			rest: "GET /",
			description: "A page of products.",
			params: {
				page: { type: "number", integer: true, min: 1, default: 1, convert: true },
				q: { type: "string", optional: true },
				category: "string"
			}
		},
		"products.get": { name: "products.get", rest: "GET /:id", params: { id: { type: "uuid" } } },
		"products.create": {
			name: "products.create",
			rest: "POST /",
			params: {
				name: { type: "string", min: 1, max: 200 },
				sku: { type: "string", optional: true },
				active: { type: "boolean", default: true },
				$$strict: true
			}
		},
		"products.update": {
			name: "products.update",
			rest: { method: "PATCH", path: "/:id" },
			params: { id: "uuid", name: "string|optional" }
		},
		"products.remove": { name: "products.remove", rest: "DELETE /:id", params: { id: "uuid" } },
		"products.reindex": { name: "products.reindex", params: {} },
		"products.audit": { name: "products.audit", rest: "GET /audit", visibility: "public" }
	}
};

const node: ServiceDescription = {
	name: "$node",
	actions: { "$node.list": { name: "$node.list", rest: "GET /list" } }
};

const build = (services: ServiceDescription[] = [products, node], more: Partial<typeof options> & { rateLimit?: number } = {}) =>
	buildOpenApi(services, { ...options, ...more });
/** The paths of the services' actions, without the gateway's own (health, docs). */
const apiPaths = (doc: OpenApiDocument) => Object.keys(doc.paths).filter(path => path.startsWith("/api/v1/"));

describe("buildOpenApi", () => {
	it("produces an OpenAPI 3.1.0 document with the given title and version", () => {
		const doc = build();
		expect(doc.openapi).toBe("3.1.0");
		expect(doc.info).toMatchObject({ title: "Product inventory", version: "1.0.0", license: { name: "MIT", identifier: "MIT" } });
		expect(doc.info).toMatchObject({ description: expect.stringContaining("X-API-Key"), contact: { name: expect.any(String) } });
	});

	it("requires the X-API-Key header on every operation", () => {
		const doc = build();
		expect(doc.components.securitySchemes).toEqual({ ApiKey: { type: "apiKey", in: "header", name: "X-API-Key" } });
		expect(doc.security).toEqual([{ ApiKey: [] }]);
	});

	it("maps a root action path to the service path and :param segments to {param}", () => {
		expect(apiPaths(build()).sort()).toEqual(["/api/v1/products", "/api/v1/products/{id}"]);
	});

	it("groups the methods of one path under it", () => {
		const paths = build().paths;
		expect(Object.keys(paths["/api/v1/products"]).sort()).toEqual(["get", "post"]);
		expect(Object.keys(paths["/api/v1/products/{id}"]).sort()).toEqual(["delete", "get", "patch"]);
	});

	it("falls back to the service name when the service has no rest setting", () => {
		const doc = build([{ name: "audit", actions: { "audit.list": { name: "audit.list", rest: "GET /" } } }]);
		expect(apiPaths(doc)).toEqual(["/api/v1/audit"]);
	});

	it("leaves out $-services, actions without rest, rest without a method and unpublished actions", () => {
		const doc = build([
			products,
			node,
			{ name: "misc", settings: { rest: "/misc" }, actions: { "misc.any": { name: "misc.any", rest: "/any" } } }
		]);
		const operationIds = apiPaths(doc).flatMap(path => Object.values(doc.paths[path]).map(op => op.operationId));
		expect(operationIds.sort()).toEqual([
			"products_create",
			"products_get",
			"products_list",
			"products_remove",
			"products_update"
		]);
	});

	it("keeps the first copy when a service is listed once per node", () => {
		const doc = build([products, { ...products, actions: { "products.get": { name: "products.get", rest: "GET /:id" } } }]);
		expect(own(doc.paths["/api/v1/products/{id}"].get)?.[0].schema).toEqual({ type: "string", format: "uuid" });
	});

	it("names the operation after the action, tags it with the service and summarises it by its openapi summary, else its description or name", () => {
		const documented = {
			...products,
			actions: { ...products.actions, "products.get": { ...products.actions!["products.get"], openapi: { summary: "Get a product" } } }
		};
		const paths = build([documented]).paths;
		expect(paths["/api/v1/products"].get).toMatchObject({ operationId: "products_list", tags: ["products"], summary: "A page of products." });
		expect(paths["/api/v1/products/{id}"].get.summary).toBe("Get a product");
		expect(paths["/api/v1/products/{id}"].delete.summary).toBe("products.remove");
	});

	it("describes each tag it uses", () => {
		const tags = build().tags;
		expect(tags.map(t => t.name).sort()).toEqual(["docs", "health", "products"]);
		for (const tag of tags) expect(tag.description).not.toBe(tag.name);
	});

	it("turns path params into required path parameters with the schema of their rule", () => {
		expect(own(build().paths["/api/v1/products/{id}"].get)).toEqual([
			{ name: "id", in: "path", required: true, schema: { type: "string", format: "uuid" } }
		]);
	});

	it("types a path param without a rule as a string", () => {
		const doc = build([{ name: "x", settings: { rest: "/x" }, actions: { "x.get": { name: "x.get", rest: "GET /:key" } } }]);
		expect(own(doc.paths["/api/v1/x/{key}"].get)).toEqual([{ name: "key", in: "path", required: true, schema: { type: "string" } }]);
	});

	it("turns the other params of a GET into query parameters, required unless optional or defaulted", () => {
		expect(own(build().paths["/api/v1/products"].get)).toEqual([
			{ name: "page", in: "query", required: false, schema: { type: "integer", minimum: 1, default: 1 } },
			{ name: "q", in: "query", required: false, schema: { type: "string" } },
			{ name: "category", in: "query", required: true, schema: { type: "string" } }
		]);
	});

	it("turns the params of a POST into a required JSON body, closed when $$strict is true", () => {
		const op = build().paths["/api/v1/products"].post;
		expect(own(op)).toEqual([]);
		expect(op.requestBody).toEqual({
			required: true,
			content: {
				"application/json": {
					schema: {
						type: "object",
						properties: {
							name: { type: "string", minLength: 1, maxLength: 200 },
							sku: { type: "string" },
							active: { type: "boolean", default: true }
						},
						required: ["name"],
						additionalProperties: false
					}
				}
			}
		});
	});

	it("keeps path params out of the body and leaves the body open without $$strict", () => {
		const op = build().paths["/api/v1/products/{id}"].patch;
		expect(own(op)?.map(p => [p.name, p.in])).toEqual([["id", "path"]]);
		expect(op.requestBody?.content["application/json"].schema).toEqual({ type: "object", properties: { name: { type: "string" } } });
	});

	it("makes the body optional when every field in it is", () => {
		expect(build().paths["/api/v1/products/{id}"].patch.requestBody?.required).toBe(false);
		expect(build().paths["/api/v1/products"].post.requestBody?.required).toBe(true);
	});

	it("adds the action's body rules to the body schema, beside the params' own", () => {
		const rules = { if: { properties: { reason: { const: "RESTOCK" } } }, then: { properties: { delta: { exclusiveMinimum: 0 } } } };
		const doc = build([
			{
				name: "stock",
				actions: {
					"stock.adjust": { name: "stock.adjust", rest: "POST /", params: { delta: "number", reason: "string" }, openapi: { summary: "Adjust", bodyRules: rules } }
				}
			}
		]);
		expect(doc.paths["/api/v1/stock"].post.requestBody?.content["application/json"].schema).toEqual({
			type: "object",
			properties: { delta: { type: "number" }, reason: { type: "string" } },
			required: ["delta", "reason"],
			allOf: [rules]
		});
	});

	it("gives a DELETE no query of its path params and no body", () => {
		const op = build().paths["/api/v1/products/{id}"].delete;
		expect(own(op)).toHaveLength(1);
		expect(op.requestBody).toBeUndefined();
	});

	it("answers 200 to a GET, 201 to a POST and 204 without content to a DELETE", () => {
		const paths = build().paths;
		expect(paths["/api/v1/products"].get.responses["200"]).toMatchObject({ description: "OK", content: { "application/json": { schema: {} } } });
		expect(paths["/api/v1/products"].post.responses["201"]).toMatchObject({ content: { "application/json": { schema: {} } } });
		expect(paths["/api/v1/products/{id}"].delete.responses["204"]).toEqual({ description: expect.any(String), headers: { "X-Request-ID": expect.any(Object), "X-Trace-Id": expect.any(Object) } });
		expect(paths["/api/v1/products/{id}"].delete.responses["200"]).toBeUndefined();
	});

	it("gives the answer the schema the action declares, a titled schema as a named component", () => {
		const item = { title: "Widget", type: "object", properties: { id: { type: "string" } } };
		const page = { title: "WidgetPage", type: "object", properties: { items: { type: "array", items: item } } };
		const doc = build([
			{
				name: "widgets",
				actions: {
					"widgets.list": { name: "widgets.list", rest: "GET /", openapi: { summary: "List", answers: page } },
					"widgets.get": { name: "widgets.get", rest: "GET /:id", openapi: { summary: "Get", answers: item } }
				}
			}
		]);
		const schemaOf = (path: string) => (doc.paths[path].get.responses["200"] as { content: Record<string, { schema: unknown }> }).content["application/json"].schema;
		expect(schemaOf("/api/v1/widgets")).toEqual({ $ref: "#/components/schemas/WidgetPage" });
		expect(schemaOf("/api/v1/widgets/{id}")).toEqual({ $ref: "#/components/schemas/Widget" });
		expect(doc.components.schemas.WidgetPage).toEqual({ ...page, properties: { items: { type: "array", items: { $ref: "#/components/schemas/Widget" } } } });
		expect(doc.components.schemas.Widget).toEqual(item);
	});

	it("documents X-Request-ID and X-Trace-Id as required on every response, success or problem", () => {
		const doc = build();
		const requestId = { $ref: "#/components/headers/RequestId" };
		const traceId = { $ref: "#/components/headers/TraceId" };
		for (const path of apiPaths(doc))
			for (const op of Object.values(doc.paths[path]))
				for (const response of Object.values(op.responses) as { $ref?: string; headers?: Record<string, unknown> }[]) {
					const resolved = response.$ref ? doc.components.responses[response.$ref.split("/").pop()!] : response;
					expect(resolved).toMatchObject({ headers: { "X-Request-ID": requestId, "X-Trace-Id": traceId } });
				}
		expect(doc.components.headers.RequestId).toMatchObject({ required: true });
		expect(doc.components.headers.TraceId).toMatchObject({ required: true });
	});

	it("documents the stale answer's Warning and X-Cache, as optional, on a read the gateway may answer stale", () => {
		const doc = build([{ name: "s", actions: { "s.get": { name: "s.get", rest: "GET /:id", staleFallback: true }, "s.list": { name: "s.list", rest: "GET /" } } }]);
		expect((doc.paths["/api/v1/s/{id}"].get.responses["200"] as { headers: object }).headers).toMatchObject({
			Warning: { $ref: "#/components/headers/StaleWarning" },
			"X-Cache": { $ref: "#/components/headers/StaleCache" }
		});
		expect((doc.paths["/api/v1/s"].get.responses["200"] as { headers: object }).headers).not.toHaveProperty("Warning");
		expect(doc.components.headers).toMatchObject({ StaleWarning: { required: false }, StaleCache: { required: false } });
	});

	it("documents 429 and the rate limit's headers only when the routes have a rate limit", () => {
		const limited = build([products], { rateLimit: 100 }).paths["/api/v1/products"].get;
		expect(limited.responses["429"]).toEqual({ $ref: "#/components/responses/TooManyRequests" });
		expect(Object.keys((limited.responses["200"] as { headers: object }).headers)).toEqual([
			"X-Request-ID",
			"X-Trace-Id",
			"X-Rate-Limit-Limit",
			"X-Rate-Limit-Remaining",
			"X-Rate-Limit-Reset"
		]);
		expect(build([products]).components.responses.TooManyRequests).toMatchObject({
			headers: { "Retry-After": expect.any(Object), "X-Rate-Limit-Reset": expect.any(Object) }
		});
		const unlimited = build([products], { rateLimit: 0 }).paths["/api/v1/products"].get;
		expect(unlimited.responses["429"]).toBeUndefined();
		expect(Object.keys((unlimited.responses["200"] as { headers: object }).headers)).toEqual(["X-Request-ID", "X-Trace-Id"]);
	});

	it("documents 404 where a path names a resource and 409 where a request changes one", () => {
		const paths = build().paths;
		const statuses = (op: Operation) => Object.keys(op.responses);
		expect(statuses(paths["/api/v1/products"].get)).toEqual(["200", "400", "401", "413", "415", "422", "500", "503", "504"]);
		expect(statuses(paths["/api/v1/products"].post)).toEqual(["201", "400", "401", "409", "413", "415", "422", "500", "503", "504"]);
		expect(statuses(paths["/api/v1/products/{id}"].delete)).toEqual(["204", "400", "401", "404", "413", "415", "422", "500", "503", "504"]);
		expect(statuses(paths["/api/v1/products/{id}"].patch)).toContain("409");
	});

	it("describes the gateway's own routes, which need no key", () => {
		const paths = build().paths;
		for (const path of ["/health/live", "/health/ready", "/api/openapi.json", "/api/docs", "/api/docs/{file}"])
			expect(paths[path].get).toMatchObject({ security: [], summary: expect.any(String), responses: { 200: expect.any(Object) } });
		expect(Object.keys(paths["/health/ready"].get.responses)).toEqual(["200", "500", "503"]);
	});

	it("documents X-Request-Id on every operation, Idempotency-Key where the action reads it, Location on a 201", () => {
		const doc = build([
			{
				name: "orders",
				settings: { rest: "/orders" },
				actions: {
					"orders.create": { name: "orders.create", rest: "POST /", readsIdempotencyKey: true, params: {} },
					"orders.confirm": { name: "orders.confirm", rest: "POST /:id/confirm", params: { id: "uuid" } }
				}
			}
		]);
		const refs = (op: Operation) => op.parameters?.filter(p => "$ref" in p);
		expect(refs(doc.paths["/api/v1/orders"].post)).toEqual([
			{ $ref: "#/components/parameters/RequestId" },
			{ $ref: "#/components/parameters/IdempotencyKey" }
		]);
		expect(refs(doc.paths["/api/v1/orders/{id}/confirm"].post)).toEqual([{ $ref: "#/components/parameters/RequestId" }]);
		expect(doc.components.parameters).toMatchObject({
			RequestId: { name: "X-Request-Id", in: "header", required: false },
			IdempotencyKey: { name: "Idempotency-Key", in: "header", required: false }
		});
		expect(doc.paths["/api/v1/orders"].post.responses["201"]).toMatchObject({ headers: { Location: expect.any(Object), "X-Request-ID": expect.any(Object) } });
		// A POST to one resource (a transition) answers 200, not 201.
		expect(Object.keys(doc.paths["/api/v1/orders/{id}/confirm"].post.responses)).toContain("200");
		expect(doc.paths["/api/v1/orders/{id}/confirm"].post.responses["201"]).toBeUndefined();
	});

	it("refers every error status to a shared problem+json response whose status is that one", () => {
		const doc = build([products], { rateLimit: 10 });
		const responses = { ...doc.paths["/api/v1/products"].post.responses, ...doc.paths["/api/v1/products/{id}"].get.responses };
		for (const status of ["400", "401", "404", "409", "413", "415", "422", "429", "500", "503", "504"]) {
			const ref = (responses[status] as { $ref: string }).$ref;
			const name = ref.replace("#/components/responses/", "");
			expect(doc.components.responses[name]).toEqual({
				description: expect.any(String),
				headers: expect.objectContaining({ "X-Request-ID": { $ref: "#/components/headers/RequestId" } }),
				content: {
					"application/problem+json": {
						schema: { allOf: [{ $ref: "#/components/schemas/Problem" }, { type: "object", properties: { status: { type: "integer", const: Number(status) } } }] }
					}
				}
			});
		}
		expect(doc.components.responses.ServiceUnavailable).toMatchObject({ headers: { "Retry-After": expect.any(Object) } });
		expect(doc.components.responses.MethodNotAllowed).toMatchObject({ headers: { Allow: expect.any(Object) } });
		expect(Object.keys((doc.components.schemas.Problem as { properties: object }).properties)).toEqual([
			"type",
			"title",
			"status",
			"detail",
			"instance",
			"code",
			"requestId",
			"traceId",
			"errors",
			"data"
		]);
	});
});

describe("ruleToSchema", () => {
	it("turns a string rule's min and max into minLength and maxLength, ignoring trim", () => {
		expect(ruleToSchema({ type: "string", min: 1, max: 100, trim: true })).toEqual({ type: "string", minLength: 1, maxLength: 100 });
	});

	it("turns a RegExp pattern into its source", () => {
		expect(ruleToSchema({ type: "string", pattern: /^[A-Z]{3}$/ })).toEqual({ type: "string", pattern: "^[A-Z]{3}$" });
		expect(ruleToSchema({ type: "string", pattern: "^a+$" })).toEqual({ type: "string", pattern: "^a+$" });
	});

	it("omits a pattern that crossed a transporter as an empty object", () => {
		expect(ruleToSchema({ type: "string", pattern: {} })).toEqual({ type: "string" });
	});

	it("omits a case-insensitive pattern, which JSON Schema cannot express", () => {
		expect(ruleToSchema({ type: "string", pattern: /^abc$/i })).toEqual({ type: "string" });
	});

	it("keeps a string rule's enum", () => {
		expect(ruleToSchema({ type: "string", enum: ["a", "b"] })).toEqual({ type: "string", enum: ["a", "b"] });
	});

	it("turns a uuid rule into a string with format uuid", () => {
		expect(ruleToSchema({ type: "uuid" })).toEqual({ type: "string", format: "uuid" });
		expect(ruleToSchema("uuid")).toEqual({ type: "string", format: "uuid" });
	});

	it("turns email and date rules into formatted strings and any into an empty schema", () => {
		expect(ruleToSchema("email")).toEqual({ type: "string", format: "email" });
		expect(ruleToSchema({ type: "date", convert: true })).toEqual({ type: "string", format: "date-time" });
		expect(ruleToSchema("any")).toEqual({});
	});

	it("turns an integer number rule into an integer with minimum and maximum", () => {
		expect(ruleToSchema({ type: "number", integer: true, min: 0, max: 10 })).toEqual({ type: "integer", minimum: 0, maximum: 10 });
	});

	it("makes positive an exclusive minimum of 0", () => {
		expect(ruleToSchema({ type: "number", positive: true })).toEqual({ type: "number", exclusiveMinimum: 0 });
	});

	it("adds the keywords of a rule's openapi, which its checks cannot say", () => {
		expect(ruleToSchema({ type: "number", min: 0, openapi: { "x-decimal-places": 2 }, custom: (v: unknown) => v })).toEqual({
			type: "number",
			minimum: 0,
			"x-decimal-places": 2
		});
	});

	it("documents money without multipleOf, which validators evaluate in floating point", () => {
		expect(ruleToSchema(money)).toEqual({ type: "number", minimum: 0, maximum: MAX_PRICE, ...TWO_DECIMALS });
		expect(ruleToSchema(money)).not.toHaveProperty("multipleOf");
	});

	it("ignores custom functions", () => {
		expect(ruleToSchema({ type: "number", min: 0, custom: (v: unknown) => v })).toEqual({ type: "number", minimum: 0 });
	});

	it("turns a boolean rule into a boolean", () => {
		expect(ruleToSchema({ type: "boolean", convert: true })).toEqual({ type: "boolean" });
	});

	it("turns an enum rule into an enum, typed string only when all values are strings", () => {
		expect(ruleToSchema({ type: "enum", values: ["asc", "desc"] })).toEqual({ type: "string", enum: ["asc", "desc"] });
		expect(ruleToSchema({ type: "enum", values: [1, "two"] })).toEqual({ enum: [1, "two"] });
	});

	it("turns an array rule into an array of its converted items with minItems and maxItems", () => {
		expect(ruleToSchema({ type: "array", items: "uuid", min: 1, max: 50 })).toEqual({
			type: "array",
			items: { type: "string", format: "uuid" },
			minItems: 1,
			maxItems: 50
		});
	});

	it("turns an object rule's props into properties with required, closed when strict", () => {
		expect(ruleToSchema({ type: "object", strict: true, props: { a: "string", b: { type: "number", optional: true } } })).toEqual({
			type: "object",
			properties: { a: { type: "string" }, b: { type: "number" } },
			required: ["a"],
			additionalProperties: false
		});
	});

	it("reads an object rule's properties too and leaves it open unless strict is true", () => {
		expect(ruleToSchema({ type: "object", strict: "remove", properties: { a: "string|optional" } })).toEqual({
			type: "object",
			properties: { a: { type: "string" } }
		});
		expect(ruleToSchema("object")).toEqual({ type: "object" });
	});

	it("reads the $$type shorthand of a nested object", () => {
		expect(ruleToSchema({ $$type: "object|optional", city: "string" })).toEqual({
			type: "object",
			properties: { city: { type: "string" } },
			required: ["city"]
		});
	});

	it("reads shorthand flags and values", () => {
		expect(ruleToSchema("string|min:3|max:10|optional")).toEqual({ type: "string", minLength: 3, maxLength: 10 });
		expect(ruleToSchema("string[]")).toEqual({ type: "array", items: { type: "string" } });
	});

	it("adds null to the type and enum of a nullable rule", () => {
		expect(ruleToSchema({ type: "string", max: 10, nullable: true })).toEqual({ type: ["string", "null"], maxLength: 10 });
		expect(ruleToSchema({ type: "enum", values: ["a"], nullable: true })).toEqual({ type: ["string", "null"], enum: ["a", null] });
	});

	it("passes a default through", () => {
		expect(ruleToSchema({ type: "number", default: 20 })).toEqual({ type: "number", default: 20 });
	});

	it("turns an array of rules into oneOf", () => {
		expect(ruleToSchema(["string", { type: "number", integer: true }])).toEqual({
			oneOf: [{ type: "string" }, { type: "integer" }]
		});
	});

	it("makes alternatives optional only when every one of them is", () => {
		const doc = buildOpenApi(
			[
				{
					name: "s",
					settings: { rest: "/s" },
					actions: {
						"s.find": { name: "s.find", rest: "GET /", params: { a: ["string|optional", "number"], b: ["string|optional", "number|optional"] } }
					}
				}
			],
			options
		);
		expect(own(doc.paths["/api/v1/s"].get)?.map(p => [p.name, p.required])).toEqual([
			["a", true],
			["b", false]
		]);
	});

	it("turns an unknown type into an empty schema", () => {
		expect(ruleToSchema({ type: "luhn" })).toEqual({});
		expect(ruleToSchema(undefined)).toEqual({});
	});
});
