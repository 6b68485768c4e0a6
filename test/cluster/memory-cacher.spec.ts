import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { ServiceBroker } from "moleculer";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { clusterEngines, describeWith } from "../helpers/engines";
import { httpClient } from "../helpers/http";
import { TEST_API_KEY } from "../helpers/nodes";
import { registryMetric } from "../helpers/metrics";
import { waitFor } from "../helpers/wait";
import { loadConfig } from "../../config/env";
import { createNode } from "../../server";
import { freePort } from "../../scripts/cluster-nodes";

const engines = clusterEngines();

describeWith(engines)("a gateway of its own with the Memory cacher", () => {
	jest.setTimeout(60_000);
	const dir = mkdtempSync(join(tmpdir(), "pi-memory-cacher-"));
	const brokers: ServiceBroker[] = [];
	let gateway: ServiceBroker;
	let baseUrl = "";
	const request = httpClient(() => baseUrl);
	/** Answers the gateway's near cache gave without calling the service, from its metrics registry. */
	const nearCacheHits = () => registryMetric(gateway, "near_cache_hits_total");

	beforeAll(async () => {
		const namespace = `mc${randomBytes(4).toString("hex")}`;
		const node = (services: string, metricsPort = 0) =>
			createNode(
				loadConfig({
					TRANSPORTER: engines!.nats,
					NAMESPACE: namespace,
					SERVICES: services,
					NODE_ID: `${namespace}-${services.split(",")[0]}`,
					DATABASE_URL: `sqlite:${join(dir, "inventory.sqlite")}`,
					METRICS_PORT: String(metricsPort),
					PORT: "0",
					LOG_LEVEL: "fatal",
					API_KEYS: `tester:${TEST_API_KEY}`,
					RATE_LIMIT: "0"
				})
			);
		gateway = node("api", await freePort());
		brokers.push(gateway, node("products,inventory"));
		await Promise.all(brokers.map(b => b.start()));
		await gateway.waitForServices(["products", "inventory"]);
		const server = (gateway.getLocalService("api") as unknown as { server: Server }).server;
		baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	});
	afterAll(async () => {
		await Promise.all(brokers.map(b => b.stop()));
		rmSync(dir, { recursive: true, force: true });
	});

	it("answers a repeated read from its near cache, and the first read after each change with the change", async () => {
		const created = await waitFor(async () => {
			const response = await request("POST", "/api/v1/products", { body: { name: "Kept lamp", price: 10 } });
			return response.status === 201 && response.body;
		});
		expect((await request("GET", `/api/v1/products/${created.id}`)).body.price).toBe(10);
		for (let price = 11; price <= 20; price++) {
			const hits = nearCacheHits();
			expect((await request("GET", `/api/v1/products/${created.id}`)).body.price).toBe(price - 1);
			expect(nearCacheHits()).toBe(hits + 1);
			expect((await request("PATCH", `/api/v1/products/${created.id}`, { body: { price } })).status).toBe(200);
			expect((await request("GET", `/api/v1/products/${created.id}`)).body.price).toBe(price);
		}
	});
});
