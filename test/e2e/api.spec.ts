import { documentedClient } from "../helpers/contract";
import { testDialects } from "../helpers/engines";
import { concurrencyTitle, useNode } from "../helpers/suite";
import { expectProblem, sendRaw } from "../helpers/http";
import { waitFor } from "../helpers/wait";
import { TEST_API_KEY } from "../helpers/nodes";

describe.each(testDialects())("the REST API over HTTP on %s", dialect => {
	const suite = useNode(dialect);
	const request = documentedClient(() => suite.node.baseUrl!);

	async function createProduct(body: Record<string, unknown> = {}) {
		const response = await request("POST", "/api/v1/products", { body: { name: "Widget", price: 9.99, ...body } });
		expect(response.status).toBe(201);
		return response.body;
	}
	async function productWithStock(stock: number) {
		const product = await createProduct({ stock });
		await waitFor(async () => (await request("GET", `/api/v1/inventory/${product.id}`)).status === 200);
		return product.id as string;
	}

	describe("health and documentation", () => {
		it("answers liveness and readiness without a key", async () => {
			await expect(request("GET", "/health/live", { apiKey: false })).resolves.toMatchObject({ status: 200, body: { status: "ok" } });
			await expect(request("GET", "/health/ready", { apiKey: false })).resolves.toMatchObject({
				status: 200,
				body: {
					status: "ready",
					checks: { "products.database": "up", "inventory.database": "up", "purchases.database": "up", "audit.database": "up" }
				}
			});
		});

		it("serves an OpenAPI 3.1 document of every public route", async () => {
			const { status, body } = await request("GET", "/api/openapi.json", { apiKey: false });
			expect(status).toBe(200);
			expect(body.openapi).toBe("3.1.0");
			expect(Object.keys(body.paths).sort()).toEqual([
				"/api/docs",
				"/api/docs/{file}",
				"/api/openapi.json",
				"/api/v1/audit",
				"/api/v1/inventory",
				"/api/v1/inventory/{productId}",
				"/api/v1/inventory/{productId}/adjustments",
				"/api/v1/inventory/{productId}/movements",
				"/api/v1/inventory/{productId}/stock",
				"/api/v1/products",
				"/api/v1/products/{id}",
				"/api/v1/purchases",
				"/api/v1/purchases/{id}",
				"/api/v1/purchases/{id}/cancel",
				"/api/v1/purchases/{id}/complete",
				"/api/v1/purchases/{id}/confirm",
				"/health/live",
				"/health/ready"
			]);
			const price = body.paths["/api/v1/products"].post.requestBody.content["application/json"].schema.properties.price;
			expect(price).toMatchObject({ type: "number", "x-decimal-places": 2 });
			expect(price).not.toHaveProperty("multipleOf");
		});

		it("serves Swagger UI and its assets", async () => {
			const page = await request("GET", "/api/docs", { apiKey: false });
			expect(page.status).toBe(200);
			expect(page.headers.get("content-type")).toMatch(/text\/html/);
			expect(page.body).toContain("/api/openapi.json");
			const css = await request("GET", "/api/docs/swagger-ui.css", { apiKey: false });
			expect(css.status).toBe(200);
			expect(css.headers.get("content-type")).toMatch(/text\/css/);
			expectProblem(await request("GET", "/api/docs/package.json", { apiKey: false }), 404);
		});
	});

	describe("authentication and routing", () => {
		it("refuses a request without a key or with a wrong one with 401", async () => {
			expectProblem(await request("GET", "/api/v1/products", { apiKey: false }), 401, "MISSING_API_KEY");
			expectProblem(await request("GET", "/api/v1/products", { apiKey: "wrong-key-123456" }), 401, "INVALID_API_KEY");
		});

		it("answers 404 with a problem for an unknown route", async () => {
			const response = await request("GET", "/api/v1/nothing-here");
			expectProblem(response, 404, "NOT_FOUND");
			expect(response.body.instance).toBe("/api/v1/nothing-here");
		});

		it("does not expose internal actions", async () => {
			expectProblem(await request("GET", "/api/v1/products/checkDatabase"), 422);
			// The path reads as a product id's stock, which has GET only: 405, and never the action.
			expectProblem(await request("POST", "/api/v1/inventory/consumeEvent", { body: {} }), 405, "METHOD_NOT_ALLOWED");
			expectProblem(await request("GET", "/api/v1/~node/list"), 404);
			expectProblem(await request("GET", "/api/v1/$node/list"), 404);
		});

		it("returns the caller's request id, or a new one when it is unusable", async () => {
			const echoed = await request("GET", "/api/v1/products", { headers: { "X-Request-Id": "abc-123" } });
			expect(echoed.headers.get("x-request-id")).toBe("abc-123");
			const replaced = await request("GET", "/api/v1/products", { headers: { "X-Request-Id": "x".repeat(500) } });
			expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
			const failed = await request("GET", "/api/v1/products/not-a-uuid", { headers: { "X-Request-Id": "err-1" } });
			expect(failed.headers.get("x-request-id")).toBe("err-1");
			expect(failed.body.requestId).toBe("err-1");
		});
	});

	describe("hostile input", () => {
		/** A request sent as written (headers and body not made consistent), answered or not. */
		const rawRequest = (method: string, path: string, headers: Record<string, string>, body: string) => sendRaw(suite.node.baseUrl!, method, path, headers, body);

		it("answers OPTIONS itself, never with the action of the method a preflight names", async () => {
			const product = await createProduct();
			const preflight = await request("OPTIONS", `/api/v1/products/${product.id}`, { headers: { "Access-Control-Request-Method": "DELETE" } });
			expect(preflight.status).toBe(204);
			expect(preflight.headers.get("allow")).toContain("DELETE");
			await expect(request("GET", `/api/v1/products/${product.id}`)).resolves.toMatchObject({ status: 200, body: { id: product.id } });
		});

		it("answers HEAD as GET without a body", async () => {
			const head = await request("HEAD", "/api/v1/products");
			expect(head).toMatchObject({ status: 200, body: "" });
			expect(head.headers.get("content-type")).toMatch(/^application\/json/);
			expect((await request("HEAD", "/api/v1/products", { apiKey: false })).status).toBe(401);
		});

		it("refuses __proto__ keys, NUL characters and deep nesting with 422, changing nothing", async () => {
			const product = await createProduct({ price: 5 });
			const proto = await request("POST", "/api/v1/products", { rawBody: '{"__proto__":{"name":"protoonly","price":2}}' });
			expectProblem(proto, 422, "VALIDATION_ERROR");
			expect(proto.body.errors).toEqual([{ field: "__proto__", message: expect.any(String) }]);
			expectProblem(await request("PATCH", `/api/v1/products/${product.id}`, { rawBody: '{"__proto__":{"price":99}}' }), 422);
			const nul = await request("POST", "/api/v1/products", { body: { name: "x\u0000y", price: 1 } });
			expectProblem(nul, 422);
			expect(nul.body.errors).toEqual([{ field: "name", message: "must not contain NUL characters" }]);
			expectProblem(await request("GET", "/api/v1/audit?q=a%00b"), 422);
			expectProblem(await request("GET", "/api/v1/products?category=a%00b"), 422);
			const deep = `{"name":${"[".repeat(5000)}1${"]".repeat(5000)},"price":1}`;
			expectProblem(await request("POST", "/api/v1/products", { rawBody: deep }), 422);
			await expect(request("GET", `/api/v1/products/${product.id}`)).resolves.toMatchObject({ body: { price: 5, version: 1 } });
			await expect(request("GET", "/api/v1/products?q=protoonly")).resolves.toMatchObject({ body: { total: 0 } });
		});

		it("refuses null for a field that cannot be emptied with 422", async () => {
			const product = await createProduct();
			for (const field of ["name", "sku", "price", "currency", "active"]) {
				const response = await request("PATCH", `/api/v1/products/${product.id}`, { body: { [field]: null } });
				expectProblem(response, 422, "VALIDATION_ERROR");
				expect(response.body.errors).toEqual([{ field, message: expect.stringContaining("null") }]);
			}
			expectProblem(await request("PUT", `/api/v1/products/${product.id}`, { body: { name: "N", price: 1, sku: null } }), 422);
			await expect(request("GET", `/api/v1/products/${product.id}`)).resolves.toMatchObject({ body: { version: 1 } });
		});

		it("answers 400 to a body its Content-Encoding cannot decode, and 413 at once to a body declared too large", async () => {
			const gzip = await rawRequest("POST", "/api/v1/products", { "X-API-Key": TEST_API_KEY, "Content-Type": "application/json", "Content-Encoding": "gzip", "Content-Length": "7" }, "notgzip");
			expect(gzip.status).toBe(400);
			expect(JSON.parse(gzip.body)).toMatchObject({ code: "UNDECODABLE_BODY" });
			// Two bytes of a declared 2 MB: the answer comes without waiting for the rest.
			const declared = await rawRequest("POST", "/api/v1/products", { "X-API-Key": TEST_API_KEY, "Content-Type": "application/json", "Content-Length": "2000000" }, "{}");
			expect(declared.status).toBe(413);
			expect(JSON.parse(declared.body)).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
		});

		it("refuses audit dates outside the years 1970 to 9999 with 422", async () => {
			for (const date of ["%2B010000-01-01T00:00:00Z", "-000001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"]) {
				const response = await request("GET", `/api/v1/audit?from=${date}`);
				expectProblem(response, 422);
				expect(response.body.errors).toEqual([{ field: "from", message: expect.stringContaining("1970") }]);
			}
			await expect(request("GET", "/api/v1/audit?from=2020-01-01T00:00:00Z&to=9999-12-31T00:00:00Z")).resolves.toMatchObject({ status: 200 });
		});
	});

	describe("products", () => {
		it("creates a product with 201 and a Location that serves it", async () => {
			const response = await request("POST", "/api/v1/products", {
				body: { name: "Desk Lamp", price: 24.5, category: "lighting", description: "Warm light", stock: 5 }
			});
			expect(response.status).toBe(201);
			expect(response.body).toMatchObject({ name: "Desk Lamp", price: 24.5, category: "lighting", active: true });
			const location = response.headers.get("location")!;
			expect(location).toBe(`/api/v1/products/${response.body.id}`);
			await expect(request("GET", location)).resolves.toMatchObject({ status: 200, body: response.body });
		});

		it("answers 422 with one entry per invalid field and stores nothing", async () => {
			const response = await request("POST", "/api/v1/products", { body: { name: "", price: 1.234, stock: -1 } });
			expectProblem(response, 422, "VALIDATION_ERROR");
			expect(response.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(["name", "price", "stock"]);
			const list = await request("GET", "/api/v1/products?q=1.234");
			expect(list.body.total).toBe(0);
		});

		it("answers 400 for malformed JSON and 413 for a body over 1 MB", async () => {
			expectProblem(await request("POST", "/api/v1/products", { rawBody: '{"name": "x",' }), 400, "MALFORMED_JSON");
			expectProblem(await request("POST", "/api/v1/products", { rawBody: "null" }), 400, "MALFORMED_JSON");
			const huge = JSON.stringify({ name: "big", price: 1, description: "x".repeat(1_100_000) });
			expectProblem(await request("POST", "/api/v1/products", { rawBody: huge }), 413, "PAYLOAD_TOO_LARGE");
		});

		it("answers 422, not 500, to bodies of the wrong shape", async () => {
			expectProblem(await request("POST", "/api/v1/products", { rawBody: "[1, 2]" }), 422);
			expectProblem(await request("POST", "/api/v1/products", { rawBody: '"text"' }), 400);
			expectProblem(await request("POST", "/api/v1/products", { body: { name: { $gt: "" }, price: "1" } }), 422);
			expectProblem(await request("POST", "/api/v1/products", { rawBody: "name=x", headers: { "Content-Type": "text/plain" } }), 415, "UNSUPPORTED_MEDIA_TYPE");
			expectProblem(await request("GET", `/api/v1/products?q=${"q".repeat(500)}`), 422);
			expectProblem(await request("GET", "/api/v1/products?page=-1"), 422);
			expectProblem(await request("GET", "/api/v1/products?pageSize=abc"), 422);
			expectProblem(await request("GET", "/api/v1/products/'%3B%20DROP%20TABLE%20products%3B--"), 422);
		});

		it("takes ids in either case, on SQLite as on PostgreSQL", async () => {
			const productId = await productWithStock(3);
			const upper = productId.toUpperCase();
			await expect(request("GET", `/api/v1/products/${upper}`)).resolves.toMatchObject({ status: 200, body: { id: productId } });
			await expect(request("GET", `/api/v1/inventory/${upper}`)).resolves.toMatchObject({ status: 200, body: { productId } });
			const bought = await request("POST", "/api/v1/purchases", { body: { items: [{ productId: upper, quantity: 1 }] } });
			expect(bought).toMatchObject({ status: 201, body: { items: [{ productId, quantity: 1 }] } });
		});

		it("answers 409 for a duplicate sku", async () => {
			await createProduct({ sku: `E2E-${dialect}` });
			expectProblem(await request("POST", "/api/v1/products", { body: { name: "Again", price: 1, sku: `e2e-${dialect}` } }), 409, "DUPLICATE_SKU");
		});

		it("lists with filters, sorting and pages", async () => {
			const category = `e2e-${dialect}-${Date.now()}`;
			for (const [name, price] of [["Oak Table", 300], ["Pine Table", 150], ["Oak Chair", 80]] as const)
				await createProduct({ name, price, category });
			const response = await request("GET", `/api/v1/products?q=oak&category=${category}&active=true&sort=-price&page=1&pageSize=1`);
			expect(response).toMatchObject({ status: 200, body: { page: 1, pageSize: 1, total: 2 } });
			expect(response.body.items.map((p: { name: string }) => p.name)).toEqual(["Oak Table"]);
		});

		it("updates with PUT and PATCH, deletes with 204, then answers 404", async () => {
			const product = await createProduct({ description: "first" });
			const patched = await request("PATCH", `/api/v1/products/${product.id}`, { body: { price: 12 } });
			expect(patched).toMatchObject({ status: 200, body: { price: 12, description: "first", version: 2 } });
			const replaced = await request("PUT", `/api/v1/products/${product.id}`, { body: { name: "Renamed", price: 13 } });
			expect(replaced).toMatchObject({ status: 200, body: { name: "Renamed", price: 13, description: null, version: 3 } });
			expectProblem(await request("PUT", `/api/v1/products/${product.id}`, { body: { name: "No price" } }), 422);
			const deleted = await request("DELETE", `/api/v1/products/${product.id}`);
			expect(deleted.status).toBe(204);
			expect(deleted.body).toBe("");
			expectProblem(await request("GET", `/api/v1/products/${product.id}`), 404, "PRODUCT_NOT_FOUND");
			expectProblem(await request("PATCH", `/api/v1/products/${product.id}`, { body: { price: 1 } }), 404);
			expectProblem(await request("DELETE", `/api/v1/products/${product.id}`), 404);
		});
	});

	describe("inventory", () => {
		it("shows the stock of a new product once product.created is handled", async () => {
			const product = await createProduct({ stock: 10 });
			const stock = await waitFor(async () => {
				const response = await request("GET", `/api/v1/inventory/${product.id}`);
				return response.status === 200 && response.body;
			});
			expect(stock).toMatchObject({ productId: product.id, onHand: 10, reserved: 0, available: 10, lowStock: false });
		});

		it("sets, adjusts and lists movements", async () => {
			const productId = await productWithStock(10);
			const set = await request("PUT", `/api/v1/inventory/${productId}/stock`, { body: { onHand: 25, lowStockThreshold: 4 } });
			expect(set).toMatchObject({ status: 200, body: { onHand: 25, lowStockThreshold: 4 } });
			const adjusted = await request("POST", `/api/v1/inventory/${productId}/adjustments`, {
				body: { delta: -22, reason: "ADJUSTMENT", reference: "stocktake" }
			});
			expect(adjusted).toMatchObject({ status: 200, body: { onHand: 3, available: 3, lowStock: true } });
			const movements = await request("GET", `/api/v1/inventory/${productId}/movements?pageSize=2`);
			expect(movements).toMatchObject({ status: 200, body: { total: 3, pageSize: 2 } });
			expect(movements.body.items[0]).toMatchObject({ delta: -22, reason: "ADJUSTMENT", reference: "stocktake", onHandAfter: 3 });
			const low = await request("GET", "/api/v1/inventory?lowStock=true&pageSize=100");
			expect(low.body.items.map((s: { productId: string }) => s.productId)).toContain(productId);
		});

		it("answers 409 to a change below zero and 422 to a bad reason", async () => {
			const productId = await productWithStock(2);
			expectProblem(
				await request("POST", `/api/v1/inventory/${productId}/adjustments`, { body: { delta: -3, reason: "ADJUSTMENT" } }),
				409,
				"STOCK_BELOW_RESERVED"
			);
			expectProblem(await request("POST", `/api/v1/inventory/${productId}/adjustments`, { body: { delta: 1, reason: "GIFT" } }), 422);
			expectProblem(await request("PUT", `/api/v1/inventory/${productId}/stock`, { body: { onHand: 1.5 } }), 422);
			expectProblem(await request("GET", "/api/v1/inventory/00000000-0000-4000-8000-000000000000"), 404, "STOCK_NOT_FOUND");
		});

		it(concurrencyTitle(dialect, "keeps ledger and on-hand equal under 100 parallel adjustments"), async () => {
			// 150 units: enough for every withdrawal, in whatever order the adjustments land.
			const productId = await productWithStock(150);
			const responses = await Promise.all(
				Array.from({ length: 100 }, (_, i) =>
					request("POST", `/api/v1/inventory/${productId}/adjustments`, {
						body: i % 4 === 0 ? { delta: 5, reason: "RESTOCK" } : { delta: -2, reason: "ADJUSTMENT" }
					})
				)
			);
			expect(responses.map(r => r.status).filter(s => s !== 200)).toEqual([]);
			const stock = await request("GET", `/api/v1/inventory/${productId}`);
			expect(stock.body.onHand).toBe(150 + 25 * 5 - 75 * 2);
			let sum = 0;
			for (const page of [1, 2]) {
				const movements = await request("GET", `/api/v1/inventory/${productId}/movements?pageSize=100&page=${page}`);
				sum += movements.body.items.reduce((s: number, m: { delta: number }) => s + m.delta, 0);
			}
			expect(sum).toBe(stock.body.onHand);
		});
	});
});
