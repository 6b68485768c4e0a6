/**
 * What the server takes is what the OpenAPI document says it takes: lengths counted in
 * characters (code points), `null` only where a field can be emptied, a body that is an
 * object, query integers in decimal digits, and text that is well-formed Unicode. Every
 * refusal is a 422 naming the field, and changes nothing.
 */
import { documentedClient } from "../helpers/contract";
import { testDialects } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import { expectProblem, sendRaw, type HttpResponse } from "../helpers/http";
import { TEST_API_KEY } from "../helpers/nodes";
import { catalog } from "../helpers/catalog";
import type { Product } from "../../services/products/products.domain";

const EMOJI = "\u{1F600}";

/** A 422 whose only invalid field is `field`. */
function expectInvalidField(response: HttpResponse, field: string): void {
	expectProblem(response, 422, "VALIDATION_ERROR");
	expect(response.body.errors.map((e: { field: string }) => e.field)).toEqual([field]);
}

describe.each(testDialects())("what the server accepts on %s", dialect => {
	const suite = useNode(dialect);
	const request = documentedClient(() => suite.node.baseUrl!);
	const { productWithStock, stock } = catalog(() => suite.node.broker);

	const namesLike = async (q: string) => (await request("GET", `/api/v1/products?q=${encodeURIComponent(q)}`)).body.total as number;

	async function pendingPurchase(productId: string) {
		const created = await request("POST", "/api/v1/purchases", { body: { items: [{ productId, quantity: 1 }] } });
		expect(created.status).toBe(201);
		return created.body as { id: string };
	}

	describe("lengths count characters, as the document's minLength and maxLength do", () => {
		it("accepts a name of 150 emoji under its limit of 200 and answers it back as sent", async () => {
			const name = EMOJI.repeat(150);
			const created = await request("POST", "/api/v1/products", { body: { name, price: 1, category: EMOJI.repeat(100) } });
			expect(created).toMatchObject({ status: 201, body: { name, category: EMOJI.repeat(100) } });
			await expect(request("GET", `/api/v1/products/${created.body.id}`)).resolves.toMatchObject({ status: 200, body: { name } });
			const renamed = await request("PATCH", `/api/v1/products/${created.body.id}`, { body: { name: EMOJI.repeat(200) } });
			expect(renamed).toMatchObject({ status: 200, body: { name: EMOJI.repeat(200) } });
		});

		it("refuses 201 characters, emoji or not, with 422 naming the field", async () => {
			expectInvalidField(await request("POST", "/api/v1/products", { body: { name: EMOJI.repeat(201), price: 1 } }), "name");
			expectInvalidField(await request("POST", "/api/v1/products", { body: { name: "x".repeat(201), price: 1 } }), "name");
			expectInvalidField(await request("GET", `/api/v1/products?q=${encodeURIComponent(EMOJI.repeat(101))}`), "q");
		});

		it("counts a trimmed field after trimming: white space alone is empty", async () => {
			expectInvalidField(await request("POST", "/api/v1/products", { body: { name: " \t ", price: 1 } }), "name");
		});
	});

	describe("null only for a field it empties", () => {
		it("answers 422 to null for each optional field of a new product, and stores nothing", async () => {
			for (const field of ["sku", "currency", "active", "stock", "lowStockThreshold"]) {
				const name = `null-${field}-${dialect}`;
				expectInvalidField(await request("POST", "/api/v1/products", { body: { name, price: 1, [field]: null } }), field);
				expect(await namesLike(name)).toBe(0);
			}
		});

		it("empties a description or a category with null, and refuses null for the other fields of a change", async () => {
			const created = await request("POST", "/api/v1/products", { body: { name: "Clearable", price: 1, description: "d", category: "c" } });
			const changed = await request("PATCH", `/api/v1/products/${created.body.id}`, { body: { description: null, category: null } });
			expect(changed).toMatchObject({ status: 200, body: { description: null, category: null, version: 2 } });
			for (const field of ["name", "price", "sku", "currency", "active", "version"])
				expectInvalidField(await request("PATCH", `/api/v1/products/${created.body.id}`, { body: { [field]: null } }), field);
			await expect(request("GET", `/api/v1/products/${created.body.id}`)).resolves.toMatchObject({ body: { version: 2 } });
		});

		it("answers 422 to a null reference, threshold, customer or reason, and changes no stock or purchase", async () => {
			const product = await productWithStock(5);
			expectInvalidField(await request("PUT", `/api/v1/inventory/${product.id}/stock`, { body: { onHand: 9, reference: null } }), "reference");
			expectInvalidField(await request("PUT", `/api/v1/inventory/${product.id}/stock`, { body: { onHand: 9, lowStockThreshold: null } }), "lowStockThreshold");
			expectInvalidField(await request("POST", `/api/v1/inventory/${product.id}/adjustments`, { body: { delta: 1, reason: "RESTOCK", reference: null } }), "reference");
			expectInvalidField(await request("POST", "/api/v1/purchases", { body: { items: [{ productId: product.id, quantity: 1 }], customerId: null } }), "customerId");
			await expect(stock(product.id)).resolves.toMatchObject({ onHand: 5, reserved: 0, version: 1 });
			const purchase = await pendingPurchase(product.id);
			expectInvalidField(await request("POST", `/api/v1/purchases/${purchase.id}/cancel`, { body: { reason: null } }), "reason");
			await expect(request("GET", `/api/v1/purchases/${purchase.id}`)).resolves.toMatchObject({ body: { status: "PENDING" } });
			await expect(stock(product.id)).resolves.toMatchObject({ onHand: 5, reserved: 1 });
		});
	});

	describe("a body is an object", () => {
		it("answers 422 to an array on every route with a body, and changes nothing", async () => {
			const product = await productWithStock(5, { price: 5 });
			const purchase = await pendingPurchase(product.id);
			const routes: [string, string, unknown][] = [
				["POST", "/api/v1/products", [{ name: "In an array", price: 1 }]],
				["PATCH", `/api/v1/products/${product.id}`, [{ price: 7 }]],
				["PATCH", `/api/v1/products/${product.id}`, []],
				["PUT", `/api/v1/products/${product.id}`, [{ name: "Renamed", price: 7 }]],
				["PUT", `/api/v1/inventory/${product.id}/stock`, [{ onHand: 9 }]],
				["POST", `/api/v1/inventory/${product.id}/adjustments`, [{ delta: 1, reason: "RESTOCK" }]],
				["POST", "/api/v1/purchases", [{ items: [{ productId: product.id, quantity: 1 }] }]],
				["POST", `/api/v1/purchases/${purchase.id}/cancel`, []],
				["POST", `/api/v1/purchases/${purchase.id}/confirm`, []]
			];
			for (const [method, path, body] of routes) expectInvalidField(await request(method, path, { body }), "(body)");
			await expect(request("GET", `/api/v1/products/${product.id}`)).resolves.toMatchObject({ body: { price: 5, version: 1 } });
			await expect(request("GET", `/api/v1/purchases/${purchase.id}`)).resolves.toMatchObject({ body: { status: "PENDING" } });
			await expect(stock(product.id)).resolves.toMatchObject({ onHand: 5, reserved: 1 });
			expect(await namesLike("In an array")).toBe(0);
		});
	});

	describe("query integers are decimal digits", () => {
		it("answers 422 to a page or page size written any other way", async () => {
			for (const value of ["0x10", "1e3", "1.0", "%201", "1%20", "%2B1", "-0", "", "1_0", "0b1", "Infinity", "NaN"]) {
				expectInvalidField(await request("GET", `/api/v1/products?page=${value}`), "page");
				expectInvalidField(await request("GET", `/api/v1/inventory?pageSize=${value}`), "pageSize");
			}
			expectInvalidField(await request("GET", "/api/v1/purchases?page=1&page=2"), "page");
		});

		it("reads plain digits as the number they write", async () => {
			await expect(request("GET", "/api/v1/products?page=2&pageSize=3")).resolves.toMatchObject({ status: 200, body: { page: 2, pageSize: 3 } });
			await expect(request("GET", "/api/v1/audit?page=1")).resolves.toMatchObject({ status: 200, body: { page: 1, pageSize: 20 } });
		});
	});

	describe("only POST, PUT and PATCH take a body", () => {
		it("answers 400 UNEXPECTED_BODY to a GET or DELETE with one, and deletes nothing", async () => {
			const created = await request("POST", "/api/v1/products", { body: { name: "Kept", price: 1 } });
			// fetch sends no body with a GET: this one goes as written.
			const body = '{"q":"nothing matches this"}';
			const headers = { "X-API-Key": TEST_API_KEY, "Content-Type": "application/json", "Content-Length": String(body.length) };
			const search = await sendRaw(suite.node.baseUrl!, "GET", "/api/v1/products", headers, body);
			expect(search.status).toBe(400);
			expect(JSON.parse(search.body)).toMatchObject({ code: "UNEXPECTED_BODY" });
			expectProblem(await request("DELETE", `/api/v1/products/${created.body.id}`, { body: { version: 1 } }), 400, "UNEXPECTED_BODY");
			await expect(request("GET", `/api/v1/products/${created.body.id}`)).resolves.toMatchObject({ status: 200 });
		});
	});

	describe("query flags and dates are written as the document says", () => {
		it("answers 422 to a flag that is not true or false", async () => {
			for (const value of ["1", "0", "on", "off", "yes", "TRUE", ""]) {
				expectInvalidField(await request("GET", `/api/v1/products?active=${value}`), "active");
				expectInvalidField(await request("GET", `/api/v1/inventory?lowStock=${value}`), "lowStock");
			}
			await expect(request("GET", "/api/v1/products?active=false")).resolves.toMatchObject({ status: 200 });
			await expect(request("GET", "/api/v1/inventory?lowStock=true")).resolves.toMatchObject({ status: 200 });
		});

		it("answers 422 to a date that is not an RFC 3339 date-time", async () => {
			for (const value of ["1", "2026", "2026-12-01", "2026-12-01T10:00", "2026-12-01 10:00:00Z", "2026-02-30T00:00:00Z", "Tue, 01 Dec 2026 10:00:00 GMT"])
				expectInvalidField(await request("GET", `/api/v1/audit?from=${encodeURIComponent(value)}`), "from");
			for (const value of ["2026-12-01T10:00:00Z", "2026-12-01T10:00:00.123+01:00", "2026-12-01t10:00:00z"])
				await expect(request("GET", `/api/v1/audit?to=${encodeURIComponent(value)}`)).resolves.toMatchObject({ status: 200 });
		});
	});

	describe("text is well-formed Unicode", () => {
		// JSON text can carry half a surrogate pair; JavaScript keeps it, no database can.
		const lone = (marker: string) => `${marker} \\ud800`;

		it("refuses a lone surrogate with 422 in every string field of a body, and stores nothing", async () => {
			const marker = `lone-${dialect}`;
			const product = await productWithStock(5);
			const purchase = await pendingPurchase(product.id);
			const bodies: [string, string, string, string][] = [
				["POST", "/api/v1/products", `{"name":"${lone(marker)}","price":1}`, "name"],
				["POST", "/api/v1/products", `{"name":"${marker}","price":1,"description":"\\udfff ${marker}"}`, "description"],
				["POST", "/api/v1/products", `{"name":"${marker}","price":1,"category":"${lone(marker)}"}`, "category"],
				["POST", "/api/v1/products", `{"name":"${marker}","price":1,"sku":"A\\udbff"}`, "sku"],
				["POST", "/api/v1/products", `{"name":"${marker}","price":1,"\\ud800":1}`, "(body)"],
				["PATCH", `/api/v1/products/${product.id}`, `{"name":"${lone(marker)}"}`, "name"],
				["PUT", `/api/v1/inventory/${product.id}/stock`, `{"onHand":9,"reference":"${lone(marker)}"}`, "reference"],
				["POST", `/api/v1/inventory/${product.id}/adjustments`, `{"delta":1,"reason":"RESTOCK","reference":"${lone(marker)}"}`, "reference"],
				["POST", "/api/v1/purchases", `{"items":[{"productId":"${product.id}","quantity":1}],"customerId":"${lone(marker)}"}`, "customerId"],
				["POST", `/api/v1/purchases/${purchase.id}/cancel`, `{"reason":"${lone(marker)}"}`, "reason"]
			];
			for (const [method, path, rawBody, field] of bodies) expectInvalidField(await request(method, path, { rawBody }), field);
			expect(await namesLike(marker)).toBe(0);
			await expect(request("GET", `/api/v1/products/${product.id}`)).resolves.toMatchObject({ body: { name: "Stocked", version: 1 } });
			await expect(stock(product.id)).resolves.toMatchObject({ onHand: 5, reserved: 1, version: 2 });
			await expect(request("GET", `/api/v1/purchases/${purchase.id}`)).resolves.toMatchObject({ body: { status: "PENDING" } });
		});

		it("keeps a surrogate pair (an emoji written as \\ud83d\\ude00) and answers it back as stored", async () => {
			const created = await request("POST", "/api/v1/products", { rawBody: '{"name":"pair \\ud83d\\ude00","price":1}' });
			expect(created).toMatchObject({ status: 201, body: { name: `pair ${EMOJI}` } });
			const read = await request("GET", `/api/v1/products/${(created.body as Product).id}`);
			expect(read.body.name).toBe(`pair ${EMOJI}`);
		});
	});
});
