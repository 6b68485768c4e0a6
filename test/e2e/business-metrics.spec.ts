/**
 * The business and platform metrics on a node's metrics port: a node with every service
 * takes the README's traffic (products created, changed and deleted, purchases confirmed,
 * cancelled and expired, cached reads), and its scrape counts exactly that.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { freePort } from "../../scripts/cluster-nodes";
import { buildEvent } from "../../contracts/events";
import { createTestDatabase, type TestDatabase } from "../helpers/databases";
import { REDIS_ENV, testDialects } from "../helpers/engines";
import { httpClient } from "../helpers/http";
import { metricIn, samplesIn, scrape } from "../helpers/metrics";
import { startNode, type TestNode } from "../helpers/nodes";
import { requiredTool } from "../helpers/tools";
import { waitFor } from "../helpers/wait";

/**
 * The families of a scrape that the project defines, as Prometheus text: Moleculer's own
 * (`moleculer_*`) are left out, as Moleculer names them (gauges ending in _total,
 * histograms with quantile labels, camelCase labels).
 */
function projectFamilies(text: string): string {
	return text
		.split(/\n(?=# HELP )/)
		.filter(family => !/^# HELP moleculer_/.test(family))
		.join("\n");
}

const promtool = requiredTool(["promtool"], "apt-get install -y --no-install-recommends prometheus");

describe.each(testDialects())("business and platform metrics on %s", dialect => {
	let db: TestDatabase;
	let node: TestNode;
	let metricsPort: number;
	const request = httpClient(() => node.baseUrl!);

	beforeAll(async () => {
		db = await createTestDatabase(dialect);
		metricsPort = await freePort();
		// The shared Redis cacher where there is one (redis_connected), else the in-memory one.
		const redis = process.env[REDIS_ENV];
		node = await startNode({
			DATABASE_URL: db.url,
			METRICS_PORT: String(metricsPort),
			NAMESPACE: `metrics${randomBytes(4).toString("hex")}`,
			...(redis ? { CACHER: redis } : {})
		});
	});
	afterAll(async () => {
		await node?.stop();
		await db?.drop();
	});

	async function createProduct(body: Record<string, unknown>): Promise<string> {
		const response = await request("POST", "/api/v1/products", { body: { name: "Metered", price: 2.5, ...body } });
		expect(response.status).toBe(201);
		await waitFor(async () => (await request("GET", `/api/v1/inventory/${response.body.id}`)).status === 200);
		return response.body.id;
	}
	async function createPurchase(productId: string, quantity: number): Promise<string> {
		const response = await request("POST", "/api/v1/purchases", { body: { items: [{ productId, quantity }] } });
		expect(response.status).toBe(201);
		return response.body.id;
	}
	const post = async (path: string, headers: Record<string, string> = {}) => expect((await request("POST", path, { body: {}, headers })).status).toBe(200);

	it("counts the products, purchases, stock and HTTP requests the node handled", async () => {
		const plenty = await createProduct({ stock: 10, lowStockThreshold: 2 });
		// Sent twice with one key: one product, counted once.
		const once = { headers: { "Idempotency-Key": `metrics-${randomBytes(4).toString("hex")}` }, body: { name: "Once", price: 1 } };
		const [first, again] = [await request("POST", "/api/v1/products", once), await request("POST", "/api/v1/products", once)];
		expect(again.body.id).toBe(first.body.id);
		expect((await request("DELETE", `/api/v1/products/${first.body.id}`)).status).toBe(204);
		const scarce = await createProduct({ stock: 3, lowStockThreshold: 5 });
		const gone = await createProduct({ stock: 0 });
		expect((await request("PATCH", `/api/v1/products/${plenty}`, { body: { price: 3 } })).status).toBe(200);
		expect((await request("DELETE", `/api/v1/products/${gone}`)).status).toBe(204);

		const confirmed = await createPurchase(plenty, 2); // 2 x 3.00
		// A confirmation sent again with its key is answered as the first was, and not counted again.
		const confirmKey = { "Idempotency-Key": `confirm-${randomBytes(4).toString("hex")}` };
		await post(`/api/v1/purchases/${confirmed}/confirm`, confirmKey);
		await post(`/api/v1/purchases/${confirmed}/confirm`, confirmKey);
		const cancelled = await createPurchase(plenty, 1);
		await post(`/api/v1/purchases/${cancelled}/cancel`);
		const expiring = await createPurchase(scarce, 1); // 1 x 2.50, left PENDING until it expires
		const purchases = node.broker.getLocalService("purchases") as unknown as { db: { rows(sql: string, values: object): Promise<unknown[]> } };
		await purchases.db.rows("UPDATE purchases SET expires_at = :past WHERE id = :id RETURNING id", { past: new Date(Date.now() - 1000).toISOString(), id: expiring });
		await expect(node.broker.call("purchases.sweep")).resolves.toMatchObject({ expired: 1 });
		const open = await createPurchase(scarce, 2); // PENDING, holding 2 units

		for (let i = 0; i < 3; i++) expect((await request("GET", `/api/v1/products/${plenty}`)).status).toBe(200);
		expect((await request("GET", "/api/v1/products/00000000-0000-4000-8000-000000000000")).status).toBe(404);
		// An event delivered twice (a lost acknowledgement) is handled, and counted, once.
		const unknown = "00000000-0000-4000-8000-000000000001";
		const redelivered = buildEvent("product.deleted", "products", unknown, { productId: unknown, sku: "NONE" }, { correlationId: "metrics-redelivery" });
		await expect(node.broker.call("inventory.consumeEvent", redelivered)).resolves.toEqual({ outcome: "processed" });
		await expect(node.broker.call("inventory.consumeEvent", redelivered)).resolves.toEqual({ outcome: "duplicate" });
		// Calls on the node itself skip the gateway's near cache and ask the shared cacher.
		for (let i = 0; i < 2; i++) await node.broker.call("products.get", { id: plenty });

		// The stock gauges refresh on a timer, and the events reach their consumers after the
		// commit: wait for the figures of the last purchase and for the last event consumed.
		const text = await waitFor(async () => {
			const scraped = await scrape(metricsPort);
			const settled =
				metricIn(scraped, "inventory_reserved_units") === 2 &&
				metricIn(scraped, "events_consumed_total", { consumer: "inventory", type: "purchase.cancelled" }) === 2 &&
				metricIn(scraped, "events_consumed_total", { consumer: "audit", type: "purchase.created" }) === 4;
			return settled && scraped;
		});

		expect(metricIn(text, "products_created_total")).toBe(4);
		expect(metricIn(text, "products_updated_total")).toBe(1);
		expect(metricIn(text, "products_deleted_total")).toBe(2);

		expect(metricIn(text, "purchases_transitions_total", { from: "NONE", to: "PENDING" })).toBe(4);
		expect(metricIn(text, "purchases_transitions_total", { from: "PENDING", to: "CONFIRMED" })).toBe(1);
		expect(metricIn(text, "purchases_transitions_total", { from: "PENDING", to: "CANCELLED" })).toBe(2);
		expect(metricIn(text, "purchases_transitions_total")).toBe(7);
		expect(metricIn(text, "purchases_value_cents_total", { status: "PENDING", currency: "EUR" })).toBe(600 + 300 + 250 + 500);
		expect(metricIn(text, "purchases_value_cents_total", { status: "CONFIRMED", currency: "EUR" })).toBe(600);
		expect(metricIn(text, "purchases_value_cents_total", { status: "CANCELLED", currency: "EUR" })).toBe(300 + 250);
		expect(metricIn(text, "purchases_expired_total")).toBe(1);
		expect(open).toBeDefined();

		// scarce: 3 on hand, 2 reserved, threshold 5 (low); plenty: 10 - 2 sold - 0 reserved, threshold 2 (fine).
		expect(metricIn(text, "inventory_low_stock_products")).toBe(1);
		expect(metricIn(text, "inventory_out_of_stock_products")).toBe(0);

		// Each event goes to the cluster's listeners, then to each consumer group of its topic that
		// reacts to its type: inventory is not handed the product update.
		const published = (labels: Record<string, string>) => metricIn(text, "events_published_total", labels);
		expect(published({ service: "products", topic: "product-events", destination: "broadcast" })).toBe(7);
		expect(published({ service: "products", topic: "product-events", destination: "inventory" })).toBe(4 + 2);
		expect(published({ service: "products", topic: "product-events", destination: "audit" })).toBe(7);
		expect(published({ service: "purchases", topic: "purchase-events", destination: "broadcast" })).toBe(4 + 1 + 2);
		expect(published({ service: "inventory", topic: "inventory-events", destination: "audit" })).toBeGreaterThan(0);
		const consumed = (consumer: string, type: string) => metricIn(text, "events_consumed_total", { consumer, type });
		expect([consumed("inventory", "product.created"), consumed("inventory", "product.deleted"), consumed("inventory", "purchase.confirmed")]).toEqual([4, 2 + 1, 1]);
		expect(samplesIn(text, "events_consumed_total", { consumer: "inventory", type: "purchase.created" })).toEqual([]); // not one of its reactions
		expect([consumed("audit", "product.created"), consumed("audit", "purchase.cancelled")]).toEqual([4, 2]);
		for (const consumer of ["inventory", "audit"]) expect(samplesIn(text, "events_parked_total", { consumer })).toEqual([0]);
		for (const service of ["products", "inventory", "purchases"]) expect(samplesIn(text, "outbox_parked_events_total", { service })).toEqual([0]);

		// Three HTTP reads of one product: the near cache misses the first and answers the other two;
		// the unknown id misses both caches; the two calls on the node are the shared cacher's hits.
		const cache = (name: string) => metricIn(text, name, { service: "products" });
		expect([cache("near_cache_hits_total"), cache("near_cache_misses_total")]).toEqual([2, 2]);
		expect([cache("cache_hits_total"), cache("cache_misses_total")]).toEqual([2, 2]);

		for (const service of ["products", "inventory", "purchases", "audit"]) {
			const [total, inUse, waiting] = ["total", "in_use", "waiting"].map(state => samplesIn(text, "db_pool_connections", { service, state }));
			expect([total.length, inUse.length, waiting.length]).toEqual([1, 1, 1]);
			expect(inUse[0]).toBeLessThanOrEqual(total[0]);
			expect(waiting[0]).toBeGreaterThanOrEqual(0);
			if (dialect === "postgres") expect(total[0]).toBeGreaterThan(0);
		}
		expect(samplesIn(text, "redis_connected")).toEqual(process.env[REDIS_ENV] ? [1] : []);
		expect(samplesIn(text, "kafka_connected")).toEqual([]); // no KAFKA_BROKERS here

		const productRoute = { route: "/api/v1/products/:id", method: "GET" };
		expect(metricIn(text, "http_requests_total", { ...productRoute, status_class: "2xx" })).toBe(3);
		expect(metricIn(text, "http_requests_total", { ...productRoute, status_class: "4xx" })).toBe(1);
		expect(metricIn(text, "http_requests_total", { route: "/api/v1/purchases", method: "POST", status_class: "2xx" })).toBe(4);
		expect(metricIn(text, "http_request_duration_seconds_bucket", { ...productRoute, le: "+Inf" })).toBe(4);
		expect(metricIn(text, "http_request_duration_seconds_count", productRoute)).toBe(4);
		expect(metricIn(text, "http_request_duration_seconds_sum", productRoute)).toBeGreaterThan(0);
		expect(samplesIn(text, "http_request_duration_seconds_bucket", { ...productRoute, le: "0.2" })).toHaveLength(1);
	}, 60_000);

	(promtool ? it : it.skip)("exports families promtool check metrics finds nothing to say about", async () => {
		const families = projectFamilies(await scrape(metricsPort));
		// The families the first test filled, among the node's own.
		for (const name of ["products_created_total", "purchases_transitions_total", "http_request_duration_seconds", "db_pool_connections", "process_cpu_seconds_total"])
			expect(families).toContain(`# TYPE ${name} `);
		expect(families).not.toContain("# HELP moleculer_");
		const check = spawnSync(promtool!, ["check", "metrics"], { input: families, encoding: "utf8" });
		expect({ status: check.status, said: `${check.stdout}${check.stderr}`.trim() }).toEqual({ status: 0, said: "" });
	});
});
