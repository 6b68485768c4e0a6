import { randomUUID } from "node:crypto";
import { documentedClient } from "../helpers/contract";
import { testDialects } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import { expectProblem, httpClient } from "../helpers/http";
import { catalog } from "../helpers/catalog";

describe.each(testDialects())("Idempotency-Key on transitions and adjustments over HTTP on %s", dialect => {
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

	it("documents the Idempotency-Key header on the keyed writes", async () => {
		const { body: doc } = await httpClient(() => suite.node.baseUrl!)("GET", "/api/openapi.json", { apiKey: false });
		const header = { $ref: "#/components/parameters/IdempotencyKey" };
		for (const path of ["/api/v1/purchases", "/api/v1/purchases/{id}/confirm", "/api/v1/purchases/{id}/cancel", "/api/v1/purchases/{id}/complete", "/api/v1/inventory/{productId}/adjustments"])
			expect(doc.paths[path].post.parameters).toContainEqual(header);
		expect(doc.paths["/api/v1/inventory/{productId}/stock"].put.parameters).not.toContainEqual(header);
	});
});
