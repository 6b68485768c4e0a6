import { clusterEngines, describeWith } from "../helpers/engines";
import { useCluster } from "../helpers/cluster";
import { httpClient } from "../helpers/http";
import { waitFor } from "../helpers/wait";
import { defaultTopology } from "../../scripts/cluster-nodes";
import { ON_HAND_REASONS, type Stock } from "../../services/inventory.domain";
import type { Movement } from "../../services/inventory.service";
import type { Page } from "../../services/shared/params";

const engines = clusterEngines();

describeWith(engines)("a cluster of nine nodes over NATS, Redis and PostgreSQL", () => {
	jest.setTimeout(120_000);
	const cluster = useCluster(() => engines, defaultTopology());
	const via = (gateway: number) => httpClient(() => cluster.gateways[gateway]);

	async function productWithStock(stock: number, name = "Clustered") {
		const created = await via(0)("POST", "/api/v1/products", { body: { name, price: 2.5, stock } });
		expect(created.status).toBe(201);
		await waitFor(async () => (await via(1)("GET", `/api/v1/inventory/${created.body.id}`)).status === 200, 5000);
		return created.body.id as string;
	}

	/** Reads the ledger through the cluster and checks it against the stock record. */
	async function expectConsistent(productId: string): Promise<Stock> {
		const stock = (await cluster.client.call("inventory.get", { productId }, { meta: { $cache: false } })) as Stock;
		const movements: Movement[] = [];
		for (let page = 1; ; page++) {
			const result = (await cluster.client.call("inventory.movements", { productId, page, pageSize: 100 })) as Page<Movement>;
			movements.push(...result.items);
			if (page * 100 >= result.total) break;
		}
		const onHand = movements.filter(m => ON_HAND_REASONS.includes(m.reason)).reduce((s, m) => s + m.delta, 0);
		const reserved = movements.filter(m => ["RESERVE", "RELEASE", "SALE"].includes(m.reason)).reduce((s, m) => s + m.delta, 0);
		expect({ onHand, reserved }).toEqual({ onHand: stock.onHand, reserved: stock.reserved });
		expect(stock.reserved).toBeLessThanOrEqual(stock.onHand);
		return stock;
	}

	it("serves the REST contract through a gateway while the services live on other nodes", async () => {
		const productId = await productWithStock(10);
		const purchase = await via(1)("POST", "/api/v1/purchases", { body: { items: [{ productId, quantity: 3 }] } });
		expect(purchase).toMatchObject({ status: 201, body: { status: "PENDING", total: 7.5 } });
		await expect(via(0)("POST", `/api/v1/purchases/${purchase.body.id}/confirm`)).resolves.toMatchObject({ status: 200 });
		await waitFor(async () => (await via(0)("GET", `/api/v1/inventory/${productId}`)).body.onHand === 7, 5000);
		const trail = await waitFor(async () => {
			const page = await via(1)("GET", `/api/v1/audit?aggregateId=${purchase.body.id}`);
			return page.body.total === 2 && page.body;
		}, 5000);
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
	});

	it("keeps serving while a node leaves gracefully under load", async () => {
		const productId = await productWithStock(1000);
		const load = Promise.all(
			Array.from({ length: 200 }, (_, i) => via(i % 2)("POST", "/api/v1/purchases", { body: { items: [{ productId, quantity: 1 }] } }))
		);
		await new Promise(resolve => setTimeout(resolve, 100));
		const leaving = cluster.nodes.get("purchases-2")!;
		const code = await leaving.stop("SIGTERM");
		if (code !== 0) console.error(leaving.output.join("").slice(-4000));
		expect(code).toBe(0);
		const responses = await load;
		expect(responses.filter(r => r.status !== 201).map(r => `${r.status} ${r.body.code} ${r.body.detail}`)).toEqual([]);
		const stock = await expectConsistent(productId);
		expect(stock.reserved).toBe(200);
		await cluster.add({ name: "purchases-2", services: "purchases" });
	});
	it("loses no accepted purchase and oversells nothing when a purchases node is killed under load", async () => {
		const productId = await productWithStock(100);
		const load = Promise.all(
			Array.from({ length: 300 }, (_, i) => via(i % 2)("POST", "/api/v1/purchases", { body: { items: [{ productId, quantity: 1 }] } }))
		);
		await new Promise(resolve => setTimeout(resolve, 150));
		await cluster.nodes.get("purchases-1")!.stop("SIGKILL");
		const responses = await load;
		const accepted = responses.filter(r => r.status === 201).map(r => r.body.id as string);
		expect(accepted.length).toBeGreaterThan(0);
		expect(accepted.length).toBeLessThanOrEqual(100);
		expect(responses.filter(r => r.status >= 500 && r.status !== 503 && r.status !== 504)).toEqual([]);

		// Every accepted purchase is there, whichever node created it.
		for (const id of accepted) await expect(via(0)("GET", `/api/v1/purchases/${id}`)).resolves.toMatchObject({ status: 200 });
		// Whatever the killed node left half-done is repaired by the sweeper of the surviving node.
		await waitFor(() => cluster.client.registry.nodes.get("purchases-1")?.available === false, 15_000);
		await cluster.client.call("purchases.sweep", { reservingGraceMs: 0 });
		const stock = await expectConsistent(productId);
		expect(stock.onHand).toBe(100);
		// Held stock is exactly the pending purchases: the accepted ones, plus any whose answer
		// was lost with the node (real purchases the client may look up or that expire).
		const pending: string[] = [];
		for (let page = 1; ; page++) {
			const result = (await cluster.client.call("purchases.list", { status: "PENDING", page, pageSize: 100 })) as Page<{ id: string; items: { productId: string }[] }>;
			pending.push(...result.items.filter(p => p.items[0].productId === productId).map(p => p.id));
			if (page * 100 >= result.total) break;
		}
		expect(stock.reserved).toBe(pending.length);
		expect(pending).toEqual(expect.arrayContaining(accepted));

	});
});
