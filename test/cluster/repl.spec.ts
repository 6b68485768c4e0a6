/**
 * The operators' REPL on a node that runs only the gateway: its commands reach the
 * services on another node over the real NATS, and `cache-clean` cleans the real Redis
 * cache they share, near caches included.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { engineUrl, describeWith, NATS_ENV, REDIS_ENV } from "../helpers/engines";
import { freePort } from "../../scripts/cluster-nodes";
import { httpClient } from "../helpers/http";
import { startNode, TEST_API_KEY, type TestNode } from "../helpers/nodes";
import { startReplNode, type ReplNode } from "../helpers/repl";
import { waitFor } from "../helpers/wait";
import type { DbServiceThis } from "../../mixins/db.mixin";

const nats = engineUrl(NATS_ENV, "nats://127.0.0.1:4222");
const redis = engineUrl(REDIS_ENV, "redis://127.0.0.1:6379");

describeWith(nats && redis)("operators' REPL commands on a gateway-only node of a cluster", () => {
	let dir: string;
	let services: TestNode;
	let gateway: ReplNode;
	let baseUrl: string;
	const request = httpClient(() => baseUrl);

	beforeAll(async () => {
		dir = mkdtempSync(join(tmpdir(), "pi-repl-cluster-"));
		const common = { TRANSPORTER: nats!, CACHER: redis!, NAMESPACE: `repl${randomBytes(4).toString("hex")}`, API_KEYS: `tester:${TEST_API_KEY}` };
		// Everything but purchases, so a command whose service is missing can be seen saying so.
		services = await startNode({ ...common, SERVICES: "products,inventory,audit", NODE_ID: "repl-services", DATABASE_URL: `sqlite:${join(dir, "inventory.sqlite")}` });
		const port = await freePort();
		baseUrl = `http://127.0.0.1:${port}`;
		gateway = await startReplNode({ ...common, SERVICES: "api", NODE_ID: "repl-gateway", PORT: String(port), METRICS_PORT: "0" });
		// Ready is never reported without purchases: wait until the gateway reaches the services it has.
		for (const path of ["/api/v1/products", "/api/v1/inventory"]) await waitFor(async () => (await request("GET", path)).status === 200);
	}, 180_000);

	afterAll(async () => {
		await gateway?.stop();
		await services?.stop();
		rmSync(dir, { recursive: true, force: true });
	}, 60_000);

	async function product(name: string, stock: number): Promise<{ id: string; sku: string }> {
		const created = (await services.broker.call("products.create", { name, price: 3, stock, lowStockThreshold: 1 })) as { id: string; sku: string };
		await waitFor(() => services.broker.call("inventory.get", { productId: created.id }).catch(() => undefined));
		return created;
	}

	it("stock and outbox answer from the services' node", async () => {
		const crate = await product("Crate", 6);
		const stock = await gateway.run(`stock ${crate.id}`);
		expect(stock).toContain(`Stock of Crate (${crate.sku}) ${crate.id}`);
		expect(stock).toMatch(/on hand\s+6\n/);

		const outbox = await gateway.run("outbox");
		expect(outbox).toMatch(/\ninventory\s+repl-services\s+\d+\s/);
		expect(outbox).toMatch(/\nproducts\s+repl-services\s+\d+\s/);
		expect(outbox).not.toContain("purchases");
	});

	it("a command whose service runs nowhere says so in one line", async () => {
		expect(await gateway.run("sweep")).toBe("Error: purchases is not running in this cluster (no node offers purchases.sweep).");
	});

	it("parked says which nodes count no dead letters because their metrics are off", async () => {
		expect(await gateway.run("parked")).toMatch(/not counted on: repl-gateway \(Metrics feature is disabled\), repl-services \(Metrics feature is disabled\)$/);
	});

	it("cache-clean empties a service's entries in the shared Redis cache and outdates the gateway's near cache", async () => {
		const bin = await product("Bin", 2);
		const productKeys = async () => (await services.broker.cacher!.getCacheKeys()).filter(({ key }) => key.startsWith("products."));
		const nameAtGateway = async () => (await request("GET", `/api/v1/products/${bin.id}`)).body.name;
		expect(await nameAtGateway()).toBe("Bin");
		await waitFor(async () => (await productKeys()).length > 0);

		// Renamed behind the service's back (no event, no clean): the caches still answer the old name.
		const db = (services.broker.getLocalService("products") as unknown as DbServiceThis).db;
		await db.rows("UPDATE products SET name = 'Bin, renamed' WHERE id = :id RETURNING id", { id: bin.id });
		expect(await nameAtGateway()).toBe("Bin");

		expect(await gateway.run("cache-clean products")).toMatch(
			/^Cleaned the cache of products: [1-9]\d* entr(y|ies) removed here \(ResilientRedisCacher\); every node was told to drop its copies \(cache\.clean\.products\)\.$/
		);
		expect(await productKeys()).toEqual([]);
		expect(await nameAtGateway()).toBe("Bin, renamed");
	});
});
