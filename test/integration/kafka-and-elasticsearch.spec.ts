/**
 * Everything that needs the real Kafka and Elasticsearch, in one file so the suites run
 * one after another: the fault suites stop and restart the engines the others use.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@elastic/elasticsearch";
import { Kafka, logLevel, type Consumer } from "kafkajs";
import { describeWith, engineUrl, ELASTICSEARCH_ENV, KAFKA_ENV } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import { httpClient } from "../helpers/http";
import { waitFor } from "../helpers/wait";
import { catalog } from "../helpers/catalog";
import { infra } from "../helpers/infra";
import { TEST_API_KEY } from "../helpers/nodes";
import { freePort, spawnNode, type RunningNode } from "../../scripts/cluster-nodes";
import { ElasticsearchAuditStore, monthlyIndex } from "../../services/audit/elasticsearch-store";
import type { AuditEntry } from "../../services/audit/store";
import type { EventEnvelope } from "../../services/shared/events";
import type { DbServiceThis } from "../../mixins/db.mixin";

const url = engineUrl(ELASTICSEARCH_ENV, "http://127.0.0.1:9200");

function entry(fields: Partial<AuditEntry> = {}): AuditEntry {
	return {
		id: randomUUID(),
		kind: "event",
		type: "product.created",
		source: "products",
		aggregateId: randomUUID(),
		correlationId: `c-${randomUUID()}`,
		actor: "shop",
		occurredAt: new Date().toISOString(),
		payload: { product: { name: "Lamp" } },
		...fields
	};
}

describeWith(url)("the Elasticsearch audit store", () => {
	// Not under "audit-": its template would overlap the product's own.
	const prefix = `t${randomBytes(4).toString("hex")}-audit`;
	let store: ElasticsearchAuditStore;

	beforeAll(async () => {
		store = ElasticsearchAuditStore.connect(url!, prefix);
		await store.init();
	});
	afterAll(async () => {
		await store.client.indices.delete({ index: `${prefix}-*`, ignore_unavailable: true });
		await store.client.indices.deleteIndexTemplate({ name: `${prefix}-audit` });
		await store.close();
	});
	const refresh = () => store.client.indices.refresh({ index: `${prefix}-*` });

	it("keeps one document per event id, in the index of its month", async () => {
		const first = entry({ occurredAt: "2026-03-15T10:00:00.000Z" });
		await expect(store.save(first)).resolves.toBe(true);
		await expect(store.save({ ...first, actor: "redelivered" })).resolves.toBe(false);
		await refresh();
		const found = await store.search({ aggregateId: first.aggregateId!, page: 1, pageSize: 10 });
		expect(found.total).toBe(1);
		expect(found.items[0]).toMatchObject({ id: first.id, actor: "redelivered", payload: first.payload });
		const doc = await store.client.get({ index: monthlyIndex(prefix, first.occurredAt), id: first.id });
		expect(doc.found).toBe(true);
		expect(monthlyIndex(prefix, first.occurredAt)).toBe(`${prefix}-2026.03`);
	});

	it("filters by type, aggregate, correlation id and time, searches the payload's text, newest first", async () => {
		const aggregateId = randomUUID();
		const correlationId = `c-${randomUUID()}`;
		const entries = [
			entry({ aggregateId, correlationId, occurredAt: "2026-04-01T10:00:00.000Z", payload: { product: { name: "Walnut Desk" } } }),
			entry({ aggregateId, correlationId, type: "product.updated", occurredAt: "2026-04-02T10:00:00.000Z", payload: { changed: ["price"] } }),
			entry({ aggregateId, type: "product.deleted", occurredAt: "2026-05-03T10:00:00.000Z", payload: { sku: "WD-1" } })
		];
		await Promise.all(entries.map(e => store.save(e)));
		await refresh();
		const all = await store.search({ aggregateId, page: 1, pageSize: 10 });
		expect(all.items.map(e => e.type)).toEqual(["product.deleted", "product.updated", "product.created"]);
		await expect(store.search({ aggregateId, type: "product.updated", page: 1, pageSize: 10 })).resolves.toMatchObject({ total: 1 });
		await expect(store.search({ correlationId, page: 1, pageSize: 10 })).resolves.toMatchObject({ total: 2 });
		const april = await store.search({ aggregateId, from: new Date("2026-04-01T00:00:00Z"), to: new Date("2026-04-30T23:59:59Z"), page: 1, pageSize: 10 });
		expect(april.total).toBe(2);
		const text = await store.search({ q: "walnut desk", aggregateId, page: 1, pageSize: 10 });
		expect(text.items.map(e => e.type)).toEqual(["product.created"]);
		const paged = await store.search({ aggregateId, page: 2, pageSize: 2 });
		expect(paged).toMatchObject({ total: 3, page: 2, items: [expect.objectContaining({ type: "product.created" })] });
	});

	it("never lets Elasticsearch guess the mappings, even when the template and indices vanish under it", async () => {
		const occurredAt = "2026-06-10T10:00:00.000Z";
		await store.save(entry({ occurredAt }));
		// As after a restart on an empty cluster: the store is not told.
		await store.client.indices.delete({ index: `${prefix}-*` });
		await store.client.indices.deleteIndexTemplate({ name: `${prefix}-audit` });
		const later = entry({ occurredAt });
		await store.save(later);
		const mapping = await store.client.indices.getMapping({ index: monthlyIndex(prefix, occurredAt) });
		expect(Object.values(mapping)[0].mappings.properties).toMatchObject({ id: { type: "keyword" }, aggregateId: { type: "keyword" } });
		await refresh();
		await expect(store.search({ aggregateId: later.aggregateId!, page: 1, pageSize: 10 })).resolves.toMatchObject({ total: 1 });
	});
});

describeWith(url)("the audit API on Elasticsearch", () => {
	const suite = useNode("sqlite", { ELASTICSEARCH_URL: url ?? "" });
	const request = httpClient(() => suite.node.baseUrl!);
	const { productWithStock } = catalog(() => suite.node.broker);

	it("answers GET /api/v1/audit from Elasticsearch, each event once", async () => {
		const product = await productWithStock(3, { name: `Indexed ${randomBytes(3).toString("hex")}` });
		const purchase = await request("POST", "/api/v1/purchases", { body: { items: [{ productId: product.id, quantity: 1 }] } });
		await request("POST", `/api/v1/purchases/${purchase.body.id}/confirm`);
		const trail = await waitFor(async () => {
			const page = await request("GET", `/api/v1/audit?aggregateId=${purchase.body.id}`);
			return page.body.total === 2 && page.body;
		}, 10_000);
		expect(trail.items.map((e: { type: string }) => e.type)).toEqual(["purchase.confirmed", "purchase.created"]);
		const byName = await waitFor(async () => {
			const page = await request("GET", `/api/v1/audit?q=${encodeURIComponent(product.name)}&type=product.created`);
			return page.body.total === 1 && page.body;
		}, 10_000);
		expect(byName.items[0].aggregateId).toBe(product.id);
		await expect(request("GET", "/health/ready")).resolves.toMatchObject({ status: 200, body: { checks: { "audit.database": "up" } } });
	});
});

describeWith(url && process.env.TEST_ELASTICSEARCH_RESTARTABLE === "true")("auditing while Elasticsearch is down", () => {
	jest.setTimeout(120_000);
	const suite = useNode("sqlite", { ELASTICSEARCH_URL: url ?? "" });
	const request = httpClient(() => suite.node.baseUrl!);
	afterAll(() => infra("up", "elasticsearch"));

	it("accepts every write, retries the audit, and makes each event searchable once when it is back", async () => {
		await infra("down", "elasticsearch");
		await waitFor(async () => (await request("GET", "/health/ready")).body.checks?.["audit.database"]?.startsWith("down"), 30_000);
		const tag = randomBytes(4).toString("hex");
		const ids: string[] = [];
		for (let i = 0; i < 3; i++) {
			const created = await request("POST", "/api/v1/products", { body: { name: `Unaudited ${tag} ${i}`, price: 1 } });
			expect(created.status).toBe(201);
			ids.push(created.body.id);
		}
		await infra("up", "elasticsearch");
		for (const id of ids) {
			const page = await waitFor(async () => {
				const found = await request("GET", `/api/v1/audit?aggregateId=${id}&type=product.created`);
				return found.status === 200 && found.body.total >= 1 && found.body;
			}, 60_000);
			expect(page.total).toBe(1);
		}
	});
});


const brokers = engineUrl(KAFKA_ENV, "127.0.0.1:9092");
const namespace = `k${randomBytes(4).toString("hex")}`;

interface Seen {
	topic: string;
	key: string;
	event: EventEnvelope;
	headers: Record<string, string>;
}

/** The poison message of the last test is not JSON; this reader must not choke on it. */
function parseOrNothing(text: string): EventEnvelope {
	try {
		return JSON.parse(text);
	} catch {
		return {} as EventEnvelope;
	}
}

describeWith(brokers)("the Kafka bridge", () => {
	jest.setTimeout(60_000);
	const suite = useNode("sqlite", { KAFKA_BROKERS: brokers ?? "", NAMESPACE: namespace, KAFKA_PARTITIONS: "2" });
	const request = httpClient(() => suite.node.baseUrl!);
	const { productWithStock, stock } = catalog(() => suite.node.broker);
	const kafka = new Kafka({ clientId: `test-${namespace}`, brokers: [brokers ?? "127.0.0.1:9092"], logLevel: logLevel.NOTHING });
	const seen: Seen[] = [];
	let reader: Consumer;

	beforeAll(async () => {
		const topics = ["product-events", "inventory-events", "purchase-events", "audit-logs", "product-events.dlq"].map(t => `${namespace}.${t}`);
		// The node creates its topics as it starts.
		const admin = kafka.admin();
		await admin.connect();
		await waitFor(async () => {
			const existing = await admin.listTopics();
			return topics.every(t => existing.includes(t));
		}, 20_000);
		await admin.disconnect();
		reader = kafka.consumer({ groupId: `${namespace}.test-reader` });
		await reader.connect();
		await reader.subscribe({ topics, fromBeginning: true });
		await reader.run({
			eachMessage: async ({ topic, message }) => {
				seen.push({
					topic: topic.slice(namespace.length + 1),
					key: String(message.key),
					event: parseOrNothing(String(message.value)),
					headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]))
				});
			}
		});
	});
	afterAll(() => reader?.disconnect());

	it("publishes every event of a purchase flow to its topic once, keyed by its aggregate, and consumes them through the groups", async () => {
		const product = await productWithStock(5, { name: "Streamed" });
		const created = await request("POST", "/api/v1/purchases", { body: { items: [{ productId: product.id, quantity: 2 }] } });
		const purchaseId = created.body.id;
		await request("POST", `/api/v1/purchases/${purchaseId}/confirm`);
		// inventory consumed purchase.confirmed from Kafka: the reservation became a sale.
		await waitFor(async () => (await stock(product.id)).onHand === 3, 15_000);

		const purchaseEvents = await waitFor(() => {
			const found = seen.filter(s => s.topic === "purchase-events" && s.event.aggregateId === purchaseId);
			return found.length >= 2 && found;
		}, 15_000);
		expect(purchaseEvents.map(s => s.event.type)).toEqual(["purchase.created", "purchase.confirmed"]);
		expect(purchaseEvents.every(s => s.key === purchaseId && s.headers.id === s.event.id)).toBe(true);
		expect(seen.filter(s => s.topic === "product-events" && s.event.aggregateId === product.id).map(s => s.event.type)).toEqual(["product.created"]);
		const stockEvents = seen.filter(s => s.topic === "inventory-events" && s.event.aggregateId === product.id);
		expect(stockEvents.length).toBeGreaterThanOrEqual(3);
		const ids = seen.map(s => s.event.id).filter(Boolean);
		expect(new Set(ids).size).toBe(ids.length);

		// audit read every topic as its own group, the gateway's request records included.
		const trail = await waitFor(async () => {
			const page = await request("GET", `/api/v1/audit?aggregateId=${purchaseId}`);
			return page.body.total === 2 && page.body;
		}, 15_000);
		expect(trail.items.map((e: { type: string }) => e.type)).toEqual(["purchase.confirmed", "purchase.created"]);
		await waitFor(async () => (await request("GET", `/api/v1/audit?type=http.request&correlationId=${created.headers.get("x-request-id")}`)).body.total === 1, 15_000);
		expect(seen.some(s => s.topic === "audit-logs")).toBe(true);
		await expect(request("GET", "/health/ready")).resolves.toMatchObject({ status: 200, body: { checks: { kafka: "up" } } });
	});

	it("parks a message its consumers cannot read on the dead-letter topic, and goes on", async () => {
		const producer = kafka.producer();
		await producer.connect();
		await producer.send({ topic: `${namespace}.product-events`, messages: [{ key: "poison", value: "{not json" }] });
		await producer.disconnect();
		const parked = await waitFor(() => seen.find(s => s.topic === "product-events.dlq"), 20_000).catch(() => undefined);
		expect(parked).toBeDefined();
		expect(parked!.headers).toMatchObject({ "original-topic": "product-events", error: expect.stringMatching(/JSON/) });
		// The consumers moved past it: a new product still gets its stock.
		await productWithStock(1, { name: `After poison ${randomUUID()}` });
	});
});

describeWith(brokers && process.env.TEST_KAFKA_RESTARTABLE === "true")("writes while Kafka is down", () => {
	jest.setTimeout(120_000);
	const ns = `kd${randomBytes(4).toString("hex")}`;
	const suite = useNode("sqlite", { KAFKA_BROKERS: brokers ?? "", NAMESPACE: ns });
	const request = httpClient(() => suite.node.baseUrl!);
	afterAll(() => infra("up", "kafka"));

	it("accepts every write, keeps the events in the outbox, and delivers each once when Kafka is back", async () => {
		await waitFor(async () => (await request("GET", "/health/ready")).status === 200, 30_000);
		await infra("down", "kafka");
		await waitFor(async () => (await request("GET", "/health/ready")).body.checks?.kafka?.startsWith("down"), 30_000);
		const names = Array.from({ length: 5 }, (_, i) => `Offline ${ns} ${i}`);
		const requestIds: string[] = [];
		for (const name of names) {
			const created = await request("POST", "/api/v1/products", { body: { name, price: 1, stock: 2 } });
			expect(created.status).toBe(201);
			requestIds.push(created.headers.get("x-request-id")!);
		}
		const outbox = (suite.node.broker.getLocalService("products") as unknown as DbServiceThis).db;
		const backlog = await outbox.rows<{ n: number | string }>("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL");
		expect(Number(backlog[0].n)).toBeGreaterThanOrEqual(5);
		// The gateway's records of those writes cannot go to audit-logs: once the producer gives up they go by a call.
		for (const correlationId of requestIds) {
			const records = await waitFor(async () => {
				const found = await request("GET", `/api/v1/audit?type=http.request&correlationId=${correlationId}`);
				return found.body.total >= 1 && found.body;
			}, 60_000);
			expect(records.total).toBe(1);
		}
		await infra("up", "kafka");
		// inventory reads product.created from Kafka again: every offline product gets its stock, once.
		for (const name of names) {
			const page = await waitFor(async () => {
				const found = await request("GET", `/api/v1/products?q=${encodeURIComponent(name)}`);
				return found.body.total === 1 && found.body;
			}, 30_000);
			const id = page.items[0].id;
			await waitFor(async () => (await request("GET", `/api/v1/inventory/${id}`)).status === 200, 60_000);
			const movements = await request("GET", `/api/v1/inventory/${id}/movements`);
			expect(movements.body.total).toBe(1);
			const trail = await waitFor(async () => {
				const entries = await request("GET", `/api/v1/audit?aggregateId=${id}&type=product.created`);
				return entries.body.total >= 1 && entries.body;
			}, 30_000);
			expect(trail.total).toBe(1);
		}
	});
});



describeWith(brokers && url)("an audit consumer killed in the middle of its backlog", () => {
	jest.setTimeout(180_000);
	const namespace = `ar${randomBytes(4).toString("hex")}`;
	const dir = mkdtempSync(join(tmpdir(), "pi-audit-restart-"));
	const es = new Client({ node: url ?? "http://127.0.0.1:9200" });
	const nodes: RunningNode[] = [];
	let baseUrl = "";
	const request = httpClient(() => baseUrl);
	// Events reach audit through Kafka only: no transporter joins these two processes.
	const common = () => ({
		NAMESPACE: namespace,
		KAFKA_BROKERS: brokers!,
		ELASTICSEARCH_URL: url!,
		API_KEYS: `tester:${TEST_API_KEY}`,
		METRICS_PORT: "0",
		LOG_LEVEL: "warn",
		DRAIN_SECONDS: "0",
		RATE_LIMIT: "0"
	});
	const startAudit = () => {
		const node = spawnNode({ name: `${namespace}-audit`, services: "audit", env: { DATABASE_URL: `sqlite:${join(dir, "audit.sqlite")}` } }, common());
		nodes.push(node);
		return node;
	};
	const stored = async (ids: string[]) => {
		await es.indices.refresh({ index: "audit-*", ignore_unavailable: true, allow_no_indices: true });
		const result = await es.search({
			index: "audit-*",
			size: 1000,
			query: { bool: { filter: [{ terms: { aggregateId: ids } }, { term: { type: "product.created" } }] } }
		});
		return result.hits.hits.map(hit => (hit._source as { aggregateId: string }).aggregateId);
	};

	afterAll(async () => {
		await Promise.all(nodes.map(node => node.stop("SIGKILL")));
		await es.close();
		rmSync(dir, { recursive: true, force: true });
	});

	it("stores every event once after it restarts: nothing lost, nothing twice", async () => {
		const port = await freePort();
		baseUrl = `http://127.0.0.1:${port}`;
		nodes.push(
			spawnNode(
				{ name: `${namespace}-main`, services: "api,products,inventory,purchases", port, env: { DATABASE_URL: `sqlite:${join(dir, "main.sqlite")}` } },
				common()
			)
		);
		await waitFor(async () => (await request("GET", "/health/live")).status === 200, 60_000);

		// A backlog waiting in Kafka before audit first reads it.
		const ids: string[] = [];
		for (let i = 0; i < 80; i++) {
			const created = await waitFor(async () => {
				const response = await request("POST", "/api/v1/products", { body: { name: `Backlog ${namespace} ${i}`, price: 1, stock: 1 } });
				return response.status === 201 && response.body;
			}, 30_000);
			ids.push(created.id);
		}

		const first = startAudit();
		await waitFor(async () => (await stored(ids)).length > 0, 60_000);
		await first.stop("SIGKILL");
		const before = (await stored(ids)).length;
		expect(before).toBeLessThan(ids.length);

		startAudit();
		const all = await waitFor(async () => {
			const found = await stored(ids);
			return found.length >= ids.length && found;
		}, 90_000);
		expect(all.sort()).toEqual([...ids].sort());
	});
});
