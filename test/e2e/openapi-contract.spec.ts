/**
 * Every answer of the README's "Use it" flow, and a refusal of each operation, checked
 * against the OpenAPI document the node serves (test/helpers/contract.ts): an undocumented
 * status, a missing documented header or a body that does not match its schema fails.
 */
import { randomUUID } from "node:crypto";
import { testDialects } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import { contractClient, servedContract, type Contract } from "../helpers/contract";
import { waitFor } from "../helpers/wait";

describe.each(testDialects())("every answer keeps to the OpenAPI document on %s", dialect => {
	const suite = useNode(dialect);
	let contract: Contract;
	const request = contractClient(() => suite.node.baseUrl!, () => contract);
	const unknown = randomUUID();

	beforeAll(async () => {
		contract = await servedContract(suite.node.baseUrl!);
	});

	async function expectStatus(status: number, answer: Promise<{ status: number }>) {
		expect((await answer).status).toBe(status);
	}

	let lamp: string;
	let notebook: string;

	it("products: create, list, get, change, replace, delete, and their refusals", async () => {
		const created = await request("POST", "/api/v1/products", {
			body: { name: "Desk Lamp", price: 24.9, category: "lighting", stock: 10, lowStockThreshold: 3 }
		});
		expect(created.status).toBe(201);
		lamp = created.body.id;
		await expectStatus(200, request("GET", "/api/v1/products?q=desk%20lamp&pageSize=1"));
		await expectStatus(200, request("GET", "/api/v1/products?q=lamp&category=lighting&active=true&sort=-price&page=1&pageSize=20"));
		await request("POST", "/api/v1/products", { body: { name: "Floor Lamp", price: 80, category: "lighting" } });
		const first = await request("GET", "/api/v1/products?category=lighting&pageSize=1");
		expect(first.body).toMatchObject({ page: 1, total: 2, totalEstimated: false, nextCursor: expect.any(String) });
		const next = await request("GET", `/api/v1/products?category=lighting&pageSize=1&cursor=${first.body.nextCursor}`);
		expect(next.body).toMatchObject({ pageSize: 1, nextCursor: null });
		await expectStatus(400, request("GET", "/api/v1/products?cursor=bm90LWEtY3Vyc29y"));
		await expectStatus(200, request("GET", `/api/v1/products/${lamp}`));
		await expectStatus(200, request("PATCH", `/api/v1/products/${lamp}`, { body: { price: 22.5 } }));
		await expectStatus(200, request("PUT", `/api/v1/products/${lamp}`, { body: { name: "Desk Lamp", price: 22.5, category: "lighting", description: "LED, warm white" } }));

		await expectStatus(422, request("POST", "/api/v1/products", { body: { name: "Pricey", price: 19.999 } }));
		await expectStatus(409, request("POST", "/api/v1/products", { body: { name: "Twin", price: 1, sku: created.body.sku } }));
		await expectStatus(400, request("POST", "/api/v1/products", { rawBody: '{"name": "Broken",' }));
		await expectStatus(413, request("POST", "/api/v1/products", { rawBody: JSON.stringify({ name: "x".repeat(1024 * 1024), price: 1 }) }));
		await expectStatus(415, request("POST", "/api/v1/products", { rawBody: '{"name":"Latin","price":1}', headers: { "Content-Type": "application/json; charset=iso-8859-1" } }));
		await expectStatus(401, request("GET", "/api/v1/products", { apiKey: false }));
		await expectStatus(422, request("GET", "/api/v1/products?pageSize=1000"));
		await expectStatus(404, request("GET", `/api/v1/products/${unknown}`));
		await expectStatus(405, request("DELETE", "/api/v1/products"));
		await expectStatus(422, request("GET", "/api/v1/products/not-a-uuid"));
		await expectStatus(409, request("PATCH", `/api/v1/products/${lamp}`, { body: { price: 1, version: 1 } }));
		await expectStatus(404, request("PATCH", `/api/v1/products/${unknown}`, { body: { price: 1 } }));
		await expectStatus(422, request("PUT", `/api/v1/products/${lamp}`, { body: { price: 1 } }));

		const doomed = await request("POST", "/api/v1/products", { body: { name: "Doomed", price: 0.07 } });
		await expectStatus(204, request("DELETE", `/api/v1/products/${doomed.body.id}`));
		await expectStatus(404, request("DELETE", `/api/v1/products/${doomed.body.id}`));
	});

	it("inventory: stock, adjustments, counts, low stock, movements, and their refusals", async () => {
		await waitFor(async () => (await request("GET", `/api/v1/inventory/${lamp}`)).status === 200);
		await expectStatus(200, request("POST", `/api/v1/inventory/${lamp}/adjustments`, { body: { delta: 5, reason: "RESTOCK", reference: "PO-1001" } }));
		await expectStatus(200, request("PUT", `/api/v1/inventory/${lamp}/stock`, { body: { onHand: 2 } }));
		await expectStatus(200, request("GET", "/api/v1/inventory?lowStock=true"));
		await expectStatus(200, request("GET", `/api/v1/inventory/${lamp}/movements`));
		const ledger = await request("GET", `/api/v1/inventory/${lamp}/movements?pageSize=1`);
		await expectStatus(200, request("GET", `/api/v1/inventory/${lamp}/movements?pageSize=1&cursor=${ledger.body.nextCursor}`));
		const stocks = await request("GET", "/api/v1/inventory?pageSize=1");
		await expectStatus(200, request("GET", `/api/v1/inventory?pageSize=1&cursor=${stocks.body.nextCursor}`));

		await expectStatus(409, request("POST", `/api/v1/inventory/${lamp}/adjustments`, { body: { delta: -5, reason: "ADJUSTMENT" } }));
		await expectStatus(422, request("POST", `/api/v1/inventory/${lamp}/adjustments`, { body: { delta: -1, reason: "RESTOCK" } }));
		await expectStatus(404, request("POST", `/api/v1/inventory/${unknown}/adjustments`, { body: { delta: 1, reason: "RESTOCK" } }));
		await expectStatus(422, request("PUT", `/api/v1/inventory/${lamp}/stock`, { body: { onHand: -1 } }));
		await expectStatus(404, request("PUT", `/api/v1/inventory/${unknown}/stock`, { body: { onHand: 1 } }));
		await expectStatus(404, request("GET", `/api/v1/inventory/${unknown}`));
		await expectStatus(422, request("GET", "/api/v1/inventory?page=0"));
		await expectStatus(404, request("GET", `/api/v1/inventory/${unknown}/movements`));
	});

	it("purchases: buy with an Idempotency-Key, confirm, complete, cancel, list, and their refusals", async () => {
		notebook = (await request("POST", "/api/v1/products", { body: { name: "Notebook", price: 3.5, stock: 20 } })).body.id;
		await waitFor(async () => (await request("GET", `/api/v1/inventory/${notebook}`)).status === 200);
		const order = { items: [{ productId: notebook, quantity: 3 }], customerId: "c-42" };
		const key = { "Idempotency-Key": `order-${randomUUID()}` };
		const bought = await request("POST", "/api/v1/purchases", { body: order, headers: key });
		expect(bought.status).toBe(201);
		const again = await request("POST", "/api/v1/purchases", { body: order, headers: key });
		expect(again.body.id).toBe(bought.body.id);
		const id = bought.body.id as string;
		await expectStatus(409, request("PUT", `/api/v1/inventory/${notebook}/stock`, { body: { onHand: 1 } }));
		await expectStatus(200, request("POST", `/api/v1/purchases/${id}/confirm`));
		await expectStatus(200, request("POST", `/api/v1/purchases/${id}/complete`));
		await expectStatus(409, request("POST", `/api/v1/purchases/${id}/confirm`));
		await expectStatus(409, request("POST", `/api/v1/purchases/${id}/complete`));
		await expectStatus(409, request("POST", `/api/v1/purchases/${id}/cancel`, { body: { reason: "too late" } }));
		await expectStatus(200, request("GET", "/api/v1/purchases?status=COMPLETED&customerId=c-42"));
		await expectStatus(200, request("GET", `/api/v1/purchases/${id}`));

		const withReason = await request("POST", "/api/v1/purchases", { body: { items: [{ productId: notebook, quantity: 1 }] } });
		await expectStatus(200, request("POST", `/api/v1/purchases/${withReason.body.id}/cancel`, { body: { reason: "changed my mind" } }));
		// Cancel's body is optional.
		const withoutBody = await request("POST", "/api/v1/purchases", { body: { items: [{ productId: notebook, quantity: 1 }] } });
		await expectStatus(200, request("POST", `/api/v1/purchases/${withoutBody.body.id}/cancel`));

		await expectStatus(409, request("POST", "/api/v1/purchases", { body: { items: [{ productId: notebook, quantity: 500 }] } }));
		await expectStatus(422, request("POST", "/api/v1/purchases", { body: { items: [{ productId: unknown, quantity: 1 }] } }));
		await expectStatus(422, request("POST", "/api/v1/purchases", { body: { ...order, customerId: "c-43" }, headers: key }));
		await expectStatus(422, request("GET", "/api/v1/purchases?status=LOST"));
		await expectStatus(404, request("GET", `/api/v1/purchases/${unknown}`));
		await expectStatus(404, request("POST", `/api/v1/purchases/${unknown}/confirm`));
		await expectStatus(404, request("POST", `/api/v1/purchases/${unknown}/complete`));
		await expectStatus(404, request("POST", `/api/v1/purchases/${unknown}/cancel`));
	});

	it("audit: events and write requests, searched, and a refused search", async () => {
		await waitFor(async () => (await request("GET", `/api/v1/audit?aggregateId=${notebook}`)).body.total > 0);
		await waitFor(async () => (await request("GET", "/api/v1/audit?type=http.request&pageSize=5")).body.total > 0);
		await expectStatus(200, request("GET", "/api/v1/audit?q=notebook&from=2020-01-01T00:00:00Z"));
		const trail = await request("GET", "/api/v1/audit?pageSize=1");
		await expectStatus(200, request("GET", `/api/v1/audit?pageSize=1&cursor=${trail.body.nextCursor}`));
		await expectStatus(400, request("GET", "/api/v1/audit?cursor=bm90LWEtY3Vyc29y"));
		await expectStatus(422, request("GET", "/api/v1/audit?from=not-a-date"));
	});

	it("health, documentation and unknown routes", async () => {
		await expectStatus(200, request("GET", "/health/live", { apiKey: false }));
		await expectStatus(200, request("GET", "/health/ready", { apiKey: false }));
		await expectStatus(200, request("GET", "/api/openapi.json", { apiKey: false }));
		await expectStatus(200, request("GET", "/api/docs", { apiKey: false }));
		await expectStatus(200, request("GET", "/api/docs/swagger-ui.css", { apiKey: false }));
		await expectStatus(200, request("GET", "/api/docs/swagger-ui-bundle.js", { apiKey: false }));
		await expectStatus(404, request("GET", "/api/docs/package.json", { apiKey: false }));
		await expectStatus(404, request("GET", "/api/v1/nothing-here"));
	});

	it("received a success from every documented operation, and a refusal from each that documents one", () => {
		expect(contract.departures).toEqual([]);
		const missing: string[] = [];
		for (const [operation, documented] of contract.operations()) {
			const received = [...(contract.received.get(operation) ?? [])];
			if (!received.some(status => status < 300)) missing.push(`${operation}: no success`);
			const refusals = documented.filter(status => /^4/.test(status) && !["413", "415", "429"].includes(status));
			if (refusals.length > 0 && !received.some(status => status >= 400 && status < 500)) missing.push(`${operation}: no refusal`);
		}
		expect(missing).toEqual([]);
	});
});

describe("the answers of a busy or short-handed node keep to the OpenAPI document", () => {
	const suite = useNode("sqlite", { RATE_LIMIT: "2" });
	let contract: Contract;
	const request = contractClient(() => suite.node.baseUrl!, () => contract);

	beforeAll(async () => {
		contract = await servedContract(suite.node.baseUrl!);
	});

	it("answers 503 with Retry-After when a service is gone, and 429 with Retry-After and the rate limit's headers past the limit", async () => {
		expect((await request("GET", "/api/v1/products")).status).toBe(200);
		await suite.node.broker.destroyService(suite.node.broker.getLocalService("audit")!);
		const unavailable = await request("GET", "/api/v1/audit");
		expect(unavailable.status).toBe(503);
		const limited = await request("GET", "/api/v1/products");
		expect(limited.status).toBe(429);
		expect(contract.departures).toEqual([]);
	});
});
