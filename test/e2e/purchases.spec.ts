import { documentedClient } from "../helpers/contract";
import { randomUUID } from "node:crypto";
import { testDialects } from "../helpers/engines";
import { concurrencyTitle, useNode } from "../helpers/suite";
import { expectProblem } from "../helpers/http";
import { waitFor } from "../helpers/wait";
import { catalog } from "../helpers/catalog";
import { TEST_API_KEY } from "../helpers/nodes";

describe.each(testDialects())("purchases and audit over HTTP on %s", dialect => {
	const suite = useNode(dialect);
	const request = documentedClient(() => suite.node.baseUrl!);
	const { productWithStock, expectConsistent } = catalog(() => suite.node.broker);
	const purchase = (items: object[], headers: Record<string, string> = {}, extra: object = {}) =>
		request("POST", "/api/v1/purchases", { body: { items, ...extra }, headers });

	it("runs the purchase flow: create, confirm, complete", async () => {
		const product = await productWithStock(10, { price: 4.99 });
		const created = await purchase([{ productId: product.id, quantity: 2 }], {}, { customerId: "c-42" });
		expect(created).toMatchObject({ status: 201, body: { status: "PENDING", total: 9.98, customerId: "c-42" } });
		expect(created.headers.get("location")).toBe(`/api/v1/purchases/${created.body.id}`);
		expect(Object.keys(created.body).sort()).toEqual(
			["id", "status", "items", "total", "currency", "customerId", "idempotencyKey", "expiresAt", "cancelReason", "createdAt", "updatedAt", "confirmedAt", "completedAt", "cancelledAt"].sort()
		);
		const id = created.body.id;
		await expect(request("GET", `/api/v1/purchases/${id}`)).resolves.toMatchObject({ status: 200, body: { id } });
		const listed = await request("GET", "/api/v1/purchases?status=PENDING&customerId=c-42");
		expect(listed.body.items.map((p: { id: string }) => p.id)).toEqual([id]);
		await expect(request("POST", `/api/v1/purchases/${id}/confirm`)).resolves.toMatchObject({ status: 200, body: { status: "CONFIRMED" } });
		await expect(request("POST", `/api/v1/purchases/${id}/complete`)).resolves.toMatchObject({ status: 200, body: { status: "COMPLETED" } });
		const refused = await request("POST", `/api/v1/purchases/${id}/cancel`, { body: { reason: "late" } });
		expect(refused).toMatchObject({ status: 409, body: { code: "INVALID_TRANSITION", detail: expect.stringContaining("COMPLETED") } });
		await waitFor(async () => (await request("GET", `/api/v1/inventory/${product.id}`)).body.onHand === 8);
		await expectConsistent(product.id);
	});

	it("cancels a PENDING purchase (stock released) and a CONFIRMED one (stock returned), and refuses every other transition", async () => {
		const product = await productWithStock(10);
		const stockOf = async () => (await request("GET", `/api/v1/inventory/${product.id}`)).body;
		const pending = (await purchase([{ productId: product.id, quantity: 2 }])).body;
		const confirmed = (await purchase([{ productId: product.id, quantity: 3 }])).body;
		await expect(stockOf()).resolves.toMatchObject({ onHand: 10, reserved: 5 });

		expect(await request("POST", `/api/v1/purchases/${pending.id}/complete`)).toMatchObject({
			status: 409,
			body: { code: "INVALID_TRANSITION", detail: expect.stringContaining("PENDING") }
		});
		await expect(request("POST", `/api/v1/purchases/${pending.id}/cancel`, { body: { reason: "changed my mind" } })).resolves.toMatchObject({
			status: 200,
			body: { status: "CANCELLED", cancelReason: "changed my mind", cancelledAt: expect.any(String) }
		});
		await expect(request("POST", `/api/v1/purchases/${confirmed.id}/confirm`)).resolves.toMatchObject({ status: 200, body: { status: "CONFIRMED" } });
		await waitFor(async () => (await stockOf()).onHand === 7 && (await stockOf()).reserved === 0);
		expect(await request("POST", `/api/v1/purchases/${confirmed.id}/confirm`)).toMatchObject({ status: 409, body: { code: "INVALID_TRANSITION" } });
		await expect(request("POST", `/api/v1/purchases/${confirmed.id}/cancel`)).resolves.toMatchObject({ status: 200, body: { status: "CANCELLED" } });
		await waitFor(async () => (await stockOf()).onHand === 10);

		for (const transition of ["confirm", "cancel", "complete"])
			expect(await request("POST", `/api/v1/purchases/${pending.id}/${transition}`)).toMatchObject({
				status: 409,
				body: { code: "INVALID_TRANSITION", detail: expect.stringContaining("CANCELLED") }
			});
		expect(await request("POST", `/api/v1/purchases/${randomUUID()}/confirm`)).toMatchObject({ status: 404, body: { code: "PURCHASE_NOT_FOUND" } });
		expectProblem(await request("POST", `/api/v1/purchases/${pending.id}/cancel`, { body: { reason: "x".repeat(201) } }), 422);
		await expectConsistent(product.id);
	});

	it("reserves all items of a purchase or none, naming the items short", async () => {
		const plenty = await productWithStock(10);
		const scarce = await productWithStock(1);
		const customerId = `short-${randomUUID()}`;
		const refused = await purchase(
			[
				{ productId: plenty.id, quantity: 4 },
				{ productId: scarce.id, quantity: 2 }
			],
			{},
			{ customerId }
		);
		expect(refused).toMatchObject({ status: 409, body: { code: "INSUFFICIENT_STOCK", data: { items: [{ productId: scarce.id, requested: 2, available: 1 }] } } });
		await expect(request("GET", `/api/v1/inventory/${plenty.id}`)).resolves.toMatchObject({ body: { reserved: 0 } });
		await expect(request("GET", `/api/v1/inventory/${scarce.id}`)).resolves.toMatchObject({ body: { reserved: 0 } });
		await expect(request("GET", `/api/v1/purchases?customerId=${customerId}`)).resolves.toMatchObject({ status: 200, body: { total: 0 } });
		await expectConsistent(plenty.id);
		await expectConsistent(scarce.id);
	});

	it(concurrencyTitle(dialect, "sells exactly 50 units to 200 concurrent buyers through the gateway"), async () => {
		const product = await productWithStock(50);
		const responses = await Promise.all(Array.from({ length: 200 }, () => purchase([{ productId: product.id, quantity: 1 }])));
		const statuses = responses.map(r => r.status);
		expect(statuses.filter(s => s === 201)).toHaveLength(50);
		expect(statuses.filter(s => s === 409)).toHaveLength(150);
		expect(responses.find(r => r.status === 409)!.body).toMatchObject({
			code: "INSUFFICIENT_STOCK",
			data: { items: [{ productId: product.id, requested: 1, available: 0 }] }
		});
		const stock = await expectConsistent(product.id);
		expect(stock).toMatchObject({ onHand: 50, reserved: 50 });
	});

	it("honours Idempotency-Key: same body, same purchase; other body, 422", async () => {
		const product = await productWithStock(10);
		const headers = { "Idempotency-Key": `key-${randomUUID()}` };
		const first = await purchase([{ productId: product.id, quantity: 3 }], headers);
		const again = await purchase([{ productId: product.id, quantity: 3 }], headers);
		expect(first.status).toBe(201);
		expect(again).toMatchObject({ status: 201, body: { id: first.body.id } });
		const changed = await purchase([{ productId: product.id, quantity: 4 }], headers);
		expect(changed).toMatchObject({ status: 422, body: { code: "VALIDATION_ERROR", errors: [{ field: "Idempotency-Key" }] } });
		await expect(request("GET", `/api/v1/inventory/${product.id}`)).resolves.toMatchObject({ body: { reserved: 3 } });
	});

	it("answers 422 with the items at fault and 404 for an unknown purchase", async () => {
		const missing = randomUUID();
		const response = await purchase([{ productId: missing, quantity: 1 }]);
		expect(response).toMatchObject({ status: 422, body: { errors: [{ field: "items[0].productId" }] } });
		const bad = await purchase([{ productId: "nope", quantity: -1 }]);
		expect(bad.status).toBe(422);
		expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(["items[0].productId", "items[0].quantity"]);
		await expect(request("GET", `/api/v1/purchases/${missing}`)).resolves.toMatchObject({ status: 404, body: { code: "PURCHASE_NOT_FOUND" } });
		await expect(request("GET", "/api/v1/purchases?status=LOST")).resolves.toMatchObject({ status: 422 });
	});

	it("records every write request and every event it causes under the request's correlation id", async () => {
		const product = await productWithStock(5);
		const correlationId = `corr-${randomUUID()}`;
		const created = await purchase([{ productId: product.id, quantity: 1 }], { "X-Request-Id": correlationId });
		expect(created.headers.get("x-request-id")).toBe(correlationId);
		const trail = await waitFor(async () => {
			const page = await request("GET", `/api/v1/audit?correlationId=${correlationId}`);
			return page.body.total === 3 && page.body;
		});
		expect(trail.items.map((e: { type: string }) => e.type).sort()).toEqual(["http.request", "inventory.stock-updated", "purchase.created"]);
		const record = trail.items.find((e: { type: string }) => e.type === "http.request");
		expect(record).toMatchObject({
			actor: "tester",
			payload: { method: "POST", route: "POST /api/v1/purchases", path: "/api/v1/purchases", status: 201, durationMs: expect.any(Number) }
		});
		const rejected = await request("POST", "/api/v1/purchases", { body: {}, headers: { "X-Request-Id": `${correlationId}-bad` } });
		expect(rejected.status).toBe(422);
		await waitFor(async () => (await request("GET", `/api/v1/audit?correlationId=${correlationId}-bad`)).body.total === 1);
		// The key itself is never recorded.
		await expect(request("GET", `/api/v1/audit?q=${TEST_API_KEY}`)).resolves.toMatchObject({ body: { total: 0 } });
	});

	it("records write requests refused before any action (malformed JSON, an unknown route), none without a valid key", async () => {
		const id = `corr-${randomUUID()}`;
		const wrongKey = `wrong-${randomUUID()}`;
		const refused = [
			await request("POST", "/api/v1/purchases", { rawBody: "{", headers: { "X-Request-Id": `${id}-json` } }),
			await request("POST", "/api/v1/purchases", { body: { items: [] }, apiKey: wrongKey, headers: { "X-Request-Id": `${id}-key` } }),
			await request("DELETE", "/api/v1/nowhere/1", { headers: { "X-Request-Id": `${id}-route` } })
		];
		expect(refused.map(r => r.status)).toEqual([400, 401, 404]);
		const recordOf = (suffix: string) =>
			waitFor(async () => (await request("GET", `/api/v1/audit?type=http.request&correlationId=${id}-${suffix}`)).body.items[0]);
		await expect(recordOf("json")).resolves.toMatchObject({ actor: "tester", payload: { method: "POST", path: "/api/v1/purchases", status: 400 } });
		await expect(recordOf("route")).resolves.toMatchObject({ actor: "tester", payload: { method: "DELETE", path: "/api/v1/nowhere/1", status: 404 } });
		// Sent before the other two, so it would have arrived by now: a client without a key cannot grow the trail.
		await expect(request("GET", `/api/v1/audit?type=http.request&correlationId=${id}-key`)).resolves.toMatchObject({ body: { total: 0 } });
		// No key, right or wrong, is in any record.
		const all = await request("GET", "/api/v1/audit?type=http.request&pageSize=100");
		expect(all.body.total).toBeGreaterThanOrEqual(3);
		expect(JSON.stringify(all.body)).not.toContain(TEST_API_KEY);
		expect(JSON.stringify(all.body)).not.toContain(wrongKey);
	});

	it("searches the audit trail by type, aggregate, time and text, newest first", async () => {
		const before = new Date().toISOString();
		const product = await productWithStock(3, { name: `Findable ${dialect}` });
		await waitFor(async () => (await request("GET", `/api/v1/audit?aggregateId=${product.id}`)).body.total >= 2);
		const byType = await request("GET", `/api/v1/audit?type=product.created&aggregateId=${product.id}`);
		expect(byType.body.items).toHaveLength(1);
		expect(byType.body.items[0]).toMatchObject({ kind: "event", source: "products", payload: { product: { name: `Findable ${dialect}` } } });
		const byText = await request("GET", `/api/v1/audit?q=${encodeURIComponent(`findable ${dialect}`)}&from=${before}`);
		expect(byText.body.items.map((e: { aggregateId: string }) => e.aggregateId)).toContain(product.id);
		const all = await request("GET", `/api/v1/audit?from=${before}&pageSize=100`);
		const times = all.body.items.map((e: { occurredAt: string }) => e.occurredAt);
		expect([...times].sort().reverse()).toEqual(times);
		const future = await request("GET", `/api/v1/audit?from=${new Date(Date.now() + 60_000).toISOString()}`);
		expect(future.body.total).toBe(0);
		await expect(request("GET", "/api/v1/audit?from=not-a-date")).resolves.toMatchObject({ status: 422 });
	});
});
