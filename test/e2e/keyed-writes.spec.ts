import { randomUUID } from "node:crypto";
import { documentedClient } from "../helpers/contract";
import { testDialects } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import { expectProblem, httpClient } from "../helpers/http";
import { catalog } from "../helpers/catalog";

describe.each(testDialects())("Idempotency-Key on every write over HTTP on %s", dialect => {
	const suite = useNode(dialect);
	const request = documentedClient(() => suite.node.baseUrl!);
	const { productWithStock, ledger, expectConsistent } = catalog(() => suite.node.broker);

	it("answers a confirm sent again with the same Idempotency-Key with the same 200, once; without the key it is a 409", async () => {
		const product = await productWithStock(10);
		const created = await request("POST", "/api/v1/purchases", { body: { items: [{ productId: product.id, quantity: 2 }] } });
		const confirm = (headers: Record<string, string> = {}) => request("POST", `/api/v1/purchases/${created.body.id}/confirm`, { headers });
		const key = { "Idempotency-Key": `confirm-${randomUUID()}` };
		const first = await confirm(key);
		expect(first).toMatchObject({ status: 200, body: { status: "CONFIRMED" } });
		const again = await confirm(key);
		expect(again.status).toBe(200);
		expect(again.body).toEqual(first.body);
		// Each request without a key gets one of the gateway's own: a new request.
		expectProblem(await confirm(), 409, "INVALID_TRANSITION");
		const cancel = await request("POST", `/api/v1/purchases/${created.body.id}/cancel`, { headers: key });
		expectProblem(cancel, 422, "VALIDATION_ERROR");
		expect(cancel.body.errors).toEqual([{ field: "Idempotency-Key", message: expect.any(String) }]);
	});

	it("answers an adjustment sent again with the same Idempotency-Key with the same 200, adding the stock once; another body is a 422", async () => {
		const product = await productWithStock(1);
		const key = { "Idempotency-Key": `restock-${randomUUID()}` };
		const adjust = (body: object) => request("POST", `/api/v1/inventory/${product.id}/adjustments`, { body, headers: key });
		const first = await adjust({ delta: 5, reason: "RESTOCK", reference: "PO-1" });
		expect(first).toMatchObject({ status: 200, body: { onHand: 6 } });
		const again = await adjust({ delta: 5, reason: "RESTOCK", reference: "PO-1" });
		expect(again.status).toBe(200);
		expect(again.body).toEqual(first.body);
		const other = await adjust({ delta: 6, reason: "RESTOCK", reference: "PO-1" });
		expectProblem(other, 422, "VALIDATION_ERROR");
		expect(other.body.errors).toEqual([{ field: "Idempotency-Key", message: expect.any(String) }]);
		expect((await ledger(product.id)).map(m => m.reason)).toEqual(["INITIAL", "RESTOCK"]);
		await expectConsistent(product.id);
	});

	it("creates one product for a creation sent again with its Idempotency-Key, and answers a delete sent again 204, not 404", async () => {
		const name = `Keyed ${randomUUID()}`;
		const key = { "Idempotency-Key": `create-${randomUUID()}` };
		const create = () => request("POST", "/api/v1/products", { body: { name, price: 3, stock: 2 }, headers: key });
		const first = await create();
		expect(first).toMatchObject({ status: 201, body: { name } });
		const again = await create();
		expect(again).toMatchObject({ status: 201, body: first.body });
		expect(again.headers.get("location")).toBe(first.headers.get("location"));
		await expect(request("GET", `/api/v1/products?q=${encodeURIComponent(name)}`)).resolves.toMatchObject({ body: { total: 1 } });
		const deleteKey = { "Idempotency-Key": `delete-${randomUUID()}` };
		const remove = () => request("DELETE", `/api/v1/products/${first.body.id}`, { headers: deleteKey });
		expect((await remove()).status).toBe(204);
		expect((await remove()).status).toBe(204);
		expectProblem(await request("DELETE", `/api/v1/products/${first.body.id}`), 404, "PRODUCT_NOT_FOUND");
	});

	it("applies a product change and a stock count sent again with their Idempotency-Key once, answering the first answer", async () => {
		const product = await productWithStock(3);
		const key = { "Idempotency-Key": `patch-${randomUUID()}` };
		const patch = () => request("PATCH", `/api/v1/products/${product.id}`, { body: { price: 4.5 }, headers: key });
		const first = await patch();
		expect(first).toMatchObject({ status: 200, body: { price: 4.5, version: 2 } });
		await expect(patch()).resolves.toMatchObject({ status: 200, body: first.body });
		await expect(request("GET", `/api/v1/products/${product.id}`)).resolves.toMatchObject({ body: { version: 2 } });
		const countKey = { "Idempotency-Key": `count-${randomUUID()}` };
		const count = () => request("PUT", `/api/v1/inventory/${product.id}/stock`, { body: { onHand: 7 }, headers: countKey });
		const counted = await count();
		expect(counted).toMatchObject({ status: 200, body: { onHand: 7 } });
		await expect(count()).resolves.toMatchObject({ status: 200, body: counted.body });
		expect((await ledger(product.id)).map(m => m.reason)).toEqual(["INITIAL", "ADJUSTMENT"]);
	});

	it("documents the Idempotency-Key header on every write and on no read", async () => {
		const { body: doc } = await httpClient(() => suite.node.baseUrl!)("GET", "/api/openapi.json", { apiKey: false });
		const header = { $ref: "#/components/parameters/IdempotencyKey" };
		const writes = Object.entries(doc.paths as Record<string, Record<string, { parameters?: unknown[] }>>).flatMap(([path, operations]) =>
			Object.entries(operations)
				.filter(([method]) => ["post", "put", "patch", "delete"].includes(method))
				.map(([method, operation]) => ({ write: `${method} ${path}`, keyed: (operation.parameters ?? []).some(p => JSON.stringify(p) === JSON.stringify(header)) }))
		);
		expect(writes.length).toBeGreaterThanOrEqual(10);
		expect(writes.filter(w => !w.keyed)).toEqual([]);
		expect(doc.paths["/api/v1/products/{id}"].get.parameters).not.toContainEqual(header);
	});
});
