import { clusterEngines, describeWith } from "../helpers/engines";
import Redis from "ioredis";
import { HeldLink, useCluster } from "../helpers/cluster";
import { scrapedMetric } from "../helpers/metrics";
import { httpClient } from "../helpers/http";
import { waitFor } from "../helpers/wait";
import { defaultTopology, freePort, type RunningNode } from "../../scripts/cluster-nodes";
import type { Stock } from "../../services/inventory/inventory.domain";
import { catalog } from "../helpers/catalog";
import { takingTurns } from "../helpers/taking-turns";

const engines = clusterEngines();

describeWith(engines)("a cluster of nine nodes over NATS, Redis and PostgreSQL", () => {
	takingTurns();
	jest.setTimeout(120_000);
	// inventory-2 reaches Redis through a link the stock test holds; the purchases nodes
	// export metrics, so the tests that stop them can tell they were creating purchases.
	const inventory2Redis = new HeldLink();
	const topology = defaultTopology();
	const specOf = (name: string) => topology.find(spec => spec.name === name)!;
	beforeAll(async () => {
		if (!engines) return;
		specOf("inventory-2").env = { CACHER: await inventory2Redis.start(engines.redis) };
		for (const name of ["purchases-1", "purchases-2"]) specOf(name).env = { METRICS_PORT: String(await freePort()) };
	});
	const cluster = useCluster(() => engines, topology);
	afterAll(() => inventory2Redis.stop());
	const via = (gateway: number) => httpClient(() => cluster.gateways[gateway]);

	async function productWithStock(stock: number, name = "Clustered") {
		const created = await via(0)("POST", "/api/v1/products", { body: { name, price: 2.5, stock } });
		expect(created.status).toBe(201);
		await waitFor(async () => (await via(1)("GET", `/api/v1/inventory/${created.body.id}`)).status === 200);
		return created.body.id as string;
	}

	const expectConsistent = (productId: string) => catalog(() => cluster.client).expectConsistent(productId);

	it("serves the REST contract through a gateway while the services live on other nodes", async () => {
		const productId = await productWithStock(10);
		const purchase = await via(1)("POST", "/api/v1/purchases", { body: { items: [{ productId, quantity: 3 }] } });
		expect(purchase).toMatchObject({ status: 201, body: { status: "PENDING", total: 7.5 } });
		await expect(via(0)("POST", `/api/v1/purchases/${purchase.body.id}/confirm`)).resolves.toMatchObject({ status: 200 });
		await waitFor(async () => (await via(0)("GET", `/api/v1/inventory/${productId}`)).body.onHand === 7);
		const trail = await waitFor(async () => {
			const page = await via(1)("GET", `/api/v1/audit?aggregateId=${purchase.body.id}`);
			return page.body.total === 2 && page.body;
		});
		expect(trail.items.map((e: { type: string }) => e.type)).toEqual(["purchase.confirmed", "purchase.created"]);
		await expect(via(0)("GET", "/health/ready")).resolves.toMatchObject({
			status: 200,
			body: { checks: { transporter: "up", cacher: "up", "products.database": "up" } }
		});
	});

	it("shows a change made through one gateway at once through the other", async () => {
		const productId = await productWithStock(1, "Versioned");
		for (let i = 1; i <= 20; i++) {
			await via(1)("GET", `/api/v1/products/${productId}`); // cached on gateway 2 and in Redis
			const patched = await via(0)("PATCH", `/api/v1/products/${productId}`, { body: { name: `Versioned ${i}` } });
			expect(patched.status).toBe(200);
			const read = await via(1)("GET", `/api/v1/products/${productId}`);
			expect(read.body.name).toBe(`Versioned ${i}`);
		}
	});

	it("sells exactly 100 units to 500 concurrent buyers over two gateways", async () => {
		const productId = await productWithStock(100);
		const responses = await Promise.all(
			Array.from({ length: 500 }, (_, i) => via(i % 2)("POST", "/api/v1/purchases", { body: { items: [{ productId, quantity: 1 }] } }))
		);
		const statuses = responses.map(r => r.status);
		expect(statuses.filter(s => s === 201)).toHaveLength(100);
		expect(statuses.filter(s => s !== 201 && s !== 409)).toEqual([]);
		const stock = await expectConsistent(productId);
		expect(stock).toMatchObject({ onHand: 100, reserved: 100 });
		// Both inventory nodes wrote their changes through to the shared cache as they committed
		// (before answering): the cached stock each gateway reads is the last committed record.
		for (const gateway of [0, 1]) await expect(via(gateway)("GET", `/api/v1/inventory/${productId}`)).resolves.toMatchObject({ status: 200, body: stock });
	});

	it("keeps the later stock cached when the write-through of an earlier change on the other inventory node reaches Redis last", async () => {
		const productId = await productWithStock(0, "Crossing");
		const namespace = cluster.env.NAMESPACE;
		// The cacher's keys: Moleculer's key of the stock, the inventory's cache version, and the
		// stock's retirement, which only a write-through (or a deletion) names.
		const stockKey = `MOL-${namespace}-inventory.get:${JSON.stringify(productId)}`;
		const versionKey = `pi-cache-version:${namespace}:inventory`;
		const retiredKey = `pi-cache-version:${namespace}:retired:inventory.get:${JSON.stringify(productId)}`;
		const adjustOn = (nodeID: string) => cluster.client.call("inventory.adjust", { productId, delta: 1, reason: "RESTOCK" }, { nodeID }) as Promise<Stock>;
		const redis = new Redis(engines!.redis);
		const cached = async () => JSON.parse((await redis.get(stockKey)) ?? "null") as Stock | null;
		try {
			// inventory-2 commits and sends its write-through, which the link holds back from Redis
			// (not for long: the cacher gives a command 1 s), while inventory-1 commits the next
			// version and writes it through before answering.
			inventory2Redis.holdFrom(retiredKey);
			const earlier = adjustOn("inventory-2");
			await waitFor(() => inventory2Redis.holding).catch(() => {
				throw new Error("inventory-2 sent no write-through of its change to Redis");
			});
			const later = await adjustOn("inventory-1");
			await expect(cached()).resolves.toEqual(later);
			const versionBefore = await redis.get(versionKey);
			inventory2Redis.release();
			await expect(earlier).resolves.toMatchObject({ version: later.version - 1, onHand: later.onHand - 1 });
			// The earlier write-through reached Redis (its script outdates the service's cache
			// version first, whatever it then decides) and left the later record in place.
			await waitFor(async () => (await redis.get(versionKey)) !== versionBefore);
			await expect(cached()).resolves.toEqual(later);
			for (const gateway of [0, 1]) await expect(via(gateway)("GET", `/api/v1/inventory/${productId}`)).resolves.toMatchObject({ status: 200, body: later });
		} finally {
			inventory2Redis.release();
			redis.disconnect();
		}
	});

	/** Purchases of one unit, `count` of them at once over both gateways; `settled` tells whether they are all answered. */
	function buyConcurrently(productId: string, count: number) {
		let settled = false;
		const responses = Promise.all(
			Array.from({ length: count }, (_, i) => via(i % 2)("POST", "/api/v1/purchases", { body: { items: [{ productId, quantity: 1 }] } }))
		).finally(() => (settled = true));
		return { responses, settled: () => settled };
	}

	/** Waits until `node` is creating purchases right now ("creating") or the load is over ("load over"). */
	const whileCreating = (node: RunningNode, load: { settled(): boolean }) =>
		waitFor(async () => load.settled() ? "load over" : (await scrapedMetric(node, "moleculer_request_active", { action: "purchases.create" })) > 0 && "creating", 30_000);

	it("keeps serving while a purchases node that was serving them leaves gracefully under load", async () => {
		const productId = await productWithStock(1000);
		const leaving = cluster.nodes.get("purchases-2")!;
		const load = buyConcurrently(productId, 200);
		expect(await whileCreating(leaving, load)).toBe("creating");
		const code = await leaving.stop("SIGTERM");
		if (code !== 0) console.error(leaving.output.join("").slice(-4000));
		expect(code).toBe(0);
		const responses = await load.responses;
		expect(responses.filter(r => r.status !== 201).map(r => `${r.status} ${r.body.code} ${r.body.detail}`)).toEqual([]);
		const stock = await expectConsistent(productId);
		expect(stock.reserved).toBe(200);
		await cluster.add(leaving.spec);
	});

	it("reports draining on its readiness for DRAIN_SECONDS after SIGTERM, still answering, then stops", async () => {
		const port = await freePort();
		const drainSeconds = 5;
		const draining = await cluster.add({ name: "gateway-draining", services: "api", port, env: { DRAIN_SECONDS: String(drainSeconds) } });
		const request = httpClient(() => `http://127.0.0.1:${port}`);
		await expect(request("GET", "/health/ready")).resolves.toMatchObject({ status: 200, body: { status: "ready" } });
		const signalled = Date.now();
		const stopped = draining.stop("SIGTERM").then(code => ({ code, after: Date.now() - signalled }));
		const ready = await waitFor(async () => {
			const response = await request("GET", "/health/ready");
			return response.status !== 200 && response;
		});
		expect(ready).toMatchObject({ status: 503, body: { status: "draining" } });
		await expect(request("GET", "/api/v1/products?pageSize=1")).resolves.toMatchObject({ status: 200 });
		// A lower bound only, which a slow machine cannot break: the drain starts after the signal.
		const { code, after } = await stopped;
		expect(code).toBe(0);
		expect(after).toBeGreaterThanOrEqual(drainSeconds * 1000);
	});
});
