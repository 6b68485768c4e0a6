/**
 * Bulkheads: product and purchase creation run at most 32 at a time per node and the rest
 * queue. A PostgreSQL lock the test holds keeps a burst in flight for real, while
 * Moleculer's own bulkhead gauges (exported as moleculer_request_bulkhead_inflight and
 * moleculer_request_bulkhead_queue_size) are read from the node's metrics registry.
 */
import { documentedClient } from "../helpers/contract";
import { describeWith, engineUrl, POSTGRES_ENV } from "../helpers/engines";
import { createTestDatabase, type TestDatabase } from "../helpers/databases";
import { startNode, type TestNode } from "../helpers/nodes";
import type { HttpResponse } from "../helpers/http";
import { TestSession } from "../helpers/postgres";
import { catalog } from "../helpers/catalog";
import { registryMetric } from "../helpers/metrics";
import { waitFor } from "../helpers/wait";
import { freePort } from "../../scripts/cluster-nodes";

const CONCURRENCY = 32;
const BURST = 50;

const postgres = engineUrl(POSTGRES_ENV, "postgres://postgres@127.0.0.1:5432/test");

describeWith(postgres)("bulkheads on creations, on postgres", () => {
	jest.setTimeout(90_000);
	let db: TestDatabase;
	let node: TestNode;
	let session: TestSession;
	const request = documentedClient(() => node.baseUrl!);
	const { productWithStock } = catalog(() => node.broker);

	beforeAll(async () => {
		db = await createTestDatabase("postgres");
		session = await TestSession.open(db.url);
	});
	afterAll(async () => {
		await session?.close();
		await db?.drop();
	});
	// A node of each test's own: stopping it closes the connections the last burst opened.
	beforeEach(async () => {
		// Metrics on: the bulkhead reports into the registry only then. A pool larger than the
		// bulkhead: the running creations wait on the test's lock, not for a connection.
		node = await startNode({ DATABASE_URL: db.url, DATABASE_POOL_MAX: "34", METRICS_PORT: String(await freePort()), RATE_LIMIT: "0" });
	});
	afterEach(() => node?.stop());

	/** A bulkhead gauge of an action on the node: requests running, or waiting in its queue. */
	const bulkhead = (gauge: "inflight" | "queue.size", action: string) => registryMetric(node.broker, `moleculer.request.bulkhead.${gauge}`, { action });

	/** Sends the burst while `lock` is held and waits until 32 run and the rest queue; then lets go and returns the answers. */
	async function burstBehind(lock: string, action: string, send: (i: number) => Promise<HttpResponse>): Promise<HttpResponse[]> {
		const release = await session.hold(lock);
		const most = { running: 0, queued: 0 };
		let answers: Promise<HttpResponse[]> | undefined;
		try {
			answers = Promise.all(Array.from({ length: BURST }, (_, i) => send(i)));
			await waitFor(() => {
				const running = bulkhead("inflight", action);
				const queued = bulkhead("queue.size", action);
				most.running = Math.max(most.running, running);
				most.queued = Math.max(most.queued, queued);
				return running === CONCURRENCY && queued === BURST - CONCURRENCY;
			}, 30_000).catch(err => {
				throw new Error(`${(err as Error).message}: at most ${most.running} ${action} seen running and ${most.queued} queued`);
			});
		} finally {
			await release();
		}
		const responses = await answers;
		await waitFor(() => bulkhead("inflight", action) === 0 && bulkhead("queue.size", action) === 0);
		return responses;
	}

	it("runs at most 32 product creations at a time and queues the rest, which are created once a slot frees", async () => {
		const responses = await burstBehind("LOCK TABLE products.products IN SHARE MODE", "products.create", i =>
			request("POST", "/api/v1/products", { body: { name: `Burst ${i}`, price: 1, category: "bulkhead" } })
		);
		expect(responses.map(r => r.status)).toEqual(Array(BURST).fill(201));
		await expect(request("GET", "/api/v1/products?category=bulkhead")).resolves.toMatchObject({ body: { total: BURST } });
	});

	it("runs at most 32 purchase creations at a time and queues the rest, which reserve their stock once a slot frees", async () => {
		const product = await productWithStock(BURST);
		// Held on the stock row: each running creation then waits in its reservation with one
		// inventory connection, so the burst never needs more than the bulkhead's width of them.
		const responses = await burstBehind(`SELECT product_id FROM inventory.stocks WHERE product_id = '${product.id}' FOR UPDATE`, "purchases.create", () =>
			request("POST", "/api/v1/purchases", { body: { items: [{ productId: product.id, quantity: 1 }] } })
		);
		expect(responses.map(r => r.status)).toEqual(Array(BURST).fill(201));
		await expect(request("GET", `/api/v1/inventory/${product.id}`)).resolves.toMatchObject({ body: { reserved: BURST, available: 0 } });
	});
});
