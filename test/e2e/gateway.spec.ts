/**
 * The gateway's answers and audit records for requests that are held up for real (a
 * PostgreSQL lock the test holds), abandoned by their client, repeated while running, or
 * refused by the rate limit.
 */
import { documentedClient } from "../helpers/contract";
import { randomUUID } from "node:crypto";
import { describeWith, engineUrl, POSTGRES_ENV } from "../helpers/engines";
import { useNode, type Suite } from "../helpers/suite";
import { expectProblem } from "../helpers/http";
import { TEST_API_KEY } from "../helpers/nodes";
import { TestSession } from "../helpers/postgres";
import { catalog } from "../helpers/catalog";
import { waitFor } from "../helpers/wait";
import { auditSearch, requestRecord } from "../helpers/audit";

/** The gateway's records of the requests sent with this X-Request-Id, as audit holds them now. */
const requestRecords = (suite: Suite, correlationId: string) => auditSearch(suite.node.broker, { type: "http.request", correlationId });

const postgres = engineUrl(POSTGRES_ENV, "postgres://postgres@127.0.0.1:5432/test");

describeWith(postgres)("requests held up in PostgreSQL", () => {
	jest.setTimeout(60_000);
	const suite = useNode("postgres", { RATE_LIMIT: "0" });
	const request = documentedClient(() => suite.node.baseUrl!);
	const { productWithStock } = catalog(() => suite.node.broker);
	let session: TestSession;
	beforeAll(async () => {
		session = await TestSession.open(suite.db.url);
	});
	afterAll(() => session?.close());

	it("records a write whose client left before the answer with status 499, once", async () => {
		const requestId = `gone-${randomUUID()}`;
		const name = `Abandoned ${requestId}`;
		// The gateway's calls of actions for HTTP requests: to know when it is done with the late answer.
		const callAction = jest.spyOn(suite.node.broker.getLocalService("api") as unknown as { callAction(...args: unknown[]): Promise<unknown> }, "callAction");
		try {
			// Inserts into products wait behind this lock: the creation stays in flight.
			const release = await session.hold("LOCK TABLE products.products IN SHARE MODE");
			try {
				const client = new AbortController();
				const sent = fetch(`${suite.node.baseUrl}/api/v1/products`, {
					method: "POST",
					headers: { "X-API-Key": TEST_API_KEY, "Content-Type": "application/json", "X-Request-Id": requestId },
					body: JSON.stringify({ name, price: 1 }),
					signal: client.signal
				});
				await waitFor(async () => (await session.waitersOn("products.products")) > 0);
				client.abort();
				await expect(sent).rejects.toMatchObject({ name: "AbortError" });
				await expect(requestRecord(suite.node.broker, requestId)).resolves.toMatchObject({
					actor: "tester",
					payload: { method: "POST", route: "POST /api/v1/products", status: 499 }
				});
			} finally {
				await release();
			}
			// The creation itself went on, and the gateway sent its late answer to nobody.
			const creation = callAction.mock.calls.findIndex(([, action]) => action === "products.create");
			await expect(callAction.mock.results[creation].value).resolves.toBe(true);
		} finally {
			callAction.mockRestore();
		}
		await expect(request("GET", `/api/v1/products?q=${encodeURIComponent(name)}`)).resolves.toMatchObject({ body: { total: 1 } });
		// A write sent after that: once it is recorded, a record of the late answer would have been too.
		const later = `${requestId}-later`;
		expect((await request("POST", "/api/v1/products", { body: { name: `Later ${requestId}`, price: 1 }, headers: { "X-Request-Id": later } })).status).toBe(201);
		await requestRecord(suite.node.broker, later);
		await expect(requestRecords(suite, requestId)).resolves.toMatchObject({ total: 1 });
	});

	it("finishes the purchase of an Idempotency-Key whose first request is still running, answering both with it and reserving once", async () => {
		const product = await productWithStock(5);
		const key = `held-${randomUUID()}`;
		const purchase = () =>
			request("POST", "/api/v1/purchases", { body: { items: [{ productId: product.id, quantity: 2 }] }, headers: { "Idempotency-Key": key } });
		// The first request's reservation waits behind this row lock, after its purchase row is written.
		const release = await session.hold("SELECT 1 FROM inventory.stocks WHERE product_id = $1 FOR UPDATE", [product.id]);
		let first: ReturnType<typeof purchase> | undefined;
		let again: ReturnType<typeof purchase> | undefined;
		try {
			first = purchase();
			await waitFor(async () => {
				const [row] = await session.rows<{ reservation_state: string }>("SELECT reservation_state FROM purchases.purchases WHERE idempotency_key = $1", [`tester:${key}`]);
				return row?.reservation_state === "RESERVING";
			});
			// The second request finishes the same row: its reservation of the same id waits behind the first's.
			again = purchase();
			await waitFor(async () => {
				const [{ waiting }] = await session.rows<{ waiting: string }>("SELECT count(*) AS waiting FROM pg_stat_activity WHERE wait_event_type = 'Lock'");
				return Number(waiting) >= 2;
			});
		} finally {
			await release();
		}
		const [done, repeated] = await Promise.all([first, again]);
		expect(done).toMatchObject({ status: 201, body: { status: "PENDING", idempotencyKey: key } });
		expect(repeated).toMatchObject({ status: 201, body: { id: done.body.id } });
		await expect(purchase()).resolves.toMatchObject({ status: 201, body: { id: done.body.id } });
		await expect(request("GET", `/api/v1/inventory/${product.id}`)).resolves.toMatchObject({ body: { reserved: 2 } });
	});
});

describe("the audit trail of a rate-limited key", () => {
	const otherKey = "other-key-0123456789";
	const suite = useNode("sqlite", { RATE_LIMIT: "3", API_KEYS: `tester:${TEST_API_KEY},other:${otherKey}` });
	const request = documentedClient(() => suite.node.baseUrl!);

	it("records the writes a key makes within its limit and none of those refused with 429", async () => {
		const id = `limited-${randomUUID()}`;
		const sent: { requestId: string; status: number }[] = [];
		// Until two in a row are refused: the window may restart along the way.
		for (let i = 0; sent.slice(-2).filter(s => s.status === 429).length < 2; i++) {
			if (i >= 50) throw new Error(`no two writes in a row refused: ${sent.map(s => s.status).join(", ")}`);
			const requestId = `${id}-${i}`;
			const response = await request("POST", "/api/v1/products", { body: { name: `Limited ${i}`, price: 1 }, headers: { "X-Request-Id": requestId } });
			if (response.status === 429) expectProblem(response, 429, "RATE_LIMIT_EXCEEDED");
			else expect(response.status).toBe(201);
			sent.push({ requestId, status: response.status });
		}
		const accepted = sent.filter(s => s.status === 201);
		expect(accepted.length).toBeGreaterThanOrEqual(3);
		for (const { requestId } of accepted)
			await expect(requestRecord(suite.node.broker, requestId)).resolves.toMatchObject({
				actor: "tester",
				payload: { method: "POST", route: "POST /api/v1/products", status: 201 }
			});
		// Another key's write, sent after the refused ones: once it is recorded, theirs would have been too.
		const later = `${id}-other`;
		expect((await request("POST", "/api/v1/products", { body: { name: "Other", price: 1 }, apiKey: otherKey, headers: { "X-Request-Id": later } })).status).toBe(201);
		await requestRecord(suite.node.broker, later);
		for (const { requestId } of sent.filter(s => s.status === 429)) await expect(requestRecords(suite, requestId)).resolves.toMatchObject({ total: 0 });
	});
});
