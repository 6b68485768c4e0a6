/**
 * Everything that needs the real Kafka and Elasticsearch, in one file so the suites run
 * one after another: the fault suites stop and restart the engines the others use.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@elastic/elasticsearch";
import { Kafka, logLevel } from "kafkajs";
import type { Service, ServiceSchema } from "moleculer";
import { describeWith, engineUrl, restartable, ELASTICSEARCH_ENV, ELASTICSEARCH_RESTARTABLE_ENV, KAFKA_ENV, KAFKA_RESTARTABLE_ENV } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import { httpClient } from "../helpers/http";
import { waitFor } from "../helpers/wait";
import { catalog } from "../helpers/catalog";
import { infra } from "../helpers/infra";
import { outboxesDrained } from "../helpers/outbox";
import { auditTrail, requestRecord } from "../helpers/audit";
import { startNode, TEST_API_KEY, type TestNode } from "../helpers/nodes";
import { registryMetric } from "../helpers/metrics";
import { freePort, spawnNode, type RunningNode } from "../../scripts/cluster-nodes";
import { ElasticsearchAuditStore, monthlyIndex } from "../../services/audit/audit.elasticsearch";
import type { AuditEntry } from "../../services/audit/audit.domain";
import { buildEvent, type EventEnvelope } from "../../contracts/events";
import type { DbServiceThis } from "../../mixins/db.mixin";
import { createEventConsumerMixin } from "../../mixins/event-consumer.mixin";
import { defineService } from "../../lib/schema";
import { lifecycleOf } from "../../lib/lifecycle";
import { takingTurns } from "../helpers/taking-turns";

const url = engineUrl(ELASTICSEARCH_ENV, "http://127.0.0.1:9200");

/** How long an outage suite waits for what an engine's outage or restart holds up: its clients give up, or come back, after growing pauses. */
const OUTAGE_MS = 60_000;

function entry(fields: Partial<AuditEntry> = {}): AuditEntry {
	return {
		id: randomUUID(),
		kind: "event",
		type: "product.created",
		source: "products",
		aggregateId: randomUUID(),
		correlationId: `c-${randomUUID()}`,
		traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
		actor: "shop",
		occurredAt: new Date().toISOString(),
		payload: { product: { name: "Lamp" } },
		...fields
	};
}

// Kafka and Elasticsearch restarted by these suites take the machine's cores for a while.
takingTurns();

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

	it("filters by type, aggregate, correlation id, trace id and time, searches the payload's text, newest first", async () => {
		const aggregateId = randomUUID();
		const correlationId = `c-${randomUUID()}`;
		const traceId = randomUUID().replace(/-/g, "");
		const entries = [
			entry({ aggregateId, correlationId, occurredAt: "2026-04-01T10:00:00.000Z", payload: { product: { name: "Walnut Desk" } } }),
			entry({ aggregateId, correlationId, type: "product.updated", occurredAt: "2026-04-02T10:00:00.000Z", payload: { changed: ["price"] } }),
			entry({ aggregateId, traceId, type: "product.deleted", occurredAt: "2026-05-03T10:00:00.000Z", payload: { sku: "WD-1" } })
		];
		await Promise.all(entries.map(e => store.save(e)));
		await refresh();
		const all = await store.search({ aggregateId, page: 1, pageSize: 10 });
		expect(all.items.map(e => e.type)).toEqual(["product.deleted", "product.updated", "product.created"]);
		await expect(store.search({ aggregateId, type: "product.updated", page: 1, pageSize: 10 })).resolves.toMatchObject({ total: 1 });
		await expect(store.search({ correlationId, page: 1, pageSize: 10 })).resolves.toMatchObject({ total: 2 });
		await expect(store.search({ traceId, page: 1, pageSize: 10 })).resolves.toMatchObject({ total: 1, items: [{ type: "product.deleted", traceId }] });
		const april = await store.search({ aggregateId, from: new Date("2026-04-01T00:00:00Z"), to: new Date("2026-04-30T23:59:59Z"), page: 1, pageSize: 10 });
		expect(april.total).toBe(2);
		const text = await store.search({ q: "walnut desk", aggregateId, page: 1, pageSize: 10 });
		expect(text.items.map(e => e.type)).toEqual(["product.created"]);
		const paged = await store.search({ aggregateId, page: 2, pageSize: 2 });
		expect(paged).toMatchObject({ total: 3, page: 2, items: [expect.objectContaining({ type: "product.created" })] });
	});

	it("walks the trail by cursor (search_after) once, newest first, while entries are added, and refuses a bad cursor with 400", async () => {
		const aggregateId = randomUUID();
		// Two entries share each time: the id orders them.
		const made = Array.from({ length: 9 }, (_, i) => entry({ aggregateId, occurredAt: new Date(Date.UTC(2026, 6, 1, 10, Math.floor(i / 2))).toISOString() }));
		await Promise.all(made.map(e => store.save(e)));
		await refresh();
		const everything = await store.search({ aggregateId, page: 1, pageSize: 100 });
		const seen: string[] = [];
		let page = await store.search({ aggregateId, page: 1, pageSize: 2 });
		while (page.nextCursor) {
			seen.push(...page.items.map(e => e.id));
			// A cursor that leads back to a page already seen would walk for ever.
			if (seen.length > made.length + 10) throw new Error(`the walk did not end after ${seen.length} entries`);
			// Newer entries arrive meanwhile: a cursor page is not moved by them.
			await store.save(entry({ aggregateId, occurredAt: new Date(Date.UTC(2026, 6, 2)).toISOString() }));
			await refresh();
			page = await store.search({ aggregateId, page: 1, pageSize: 2, cursor: page.nextCursor });
			expect(page).not.toHaveProperty("total");
		}
		seen.push(...page.items.map(e => e.id));
		expect(seen).toEqual(everything.items.map(e => e.id));
		expect(new Set(seen)).toEqual(new Set(made.map(e => e.id)));
		await expect(store.search({ aggregateId, page: 1, pageSize: 2, cursor: "bm9wZQ" })).rejects.toMatchObject({ code: 400, type: "INVALID_CURSOR" });
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
		});
		expect(trail.items.map((e: { type: string }) => e.type)).toEqual(["purchase.confirmed", "purchase.created"]);
		const byName = await waitFor(async () => {
			const page = await request("GET", `/api/v1/audit?q=${encodeURIComponent(product.name)}&type=product.created`);
			return page.body.total === 1 && page.body;
		});
		expect(byName.items[0].aggregateId).toBe(product.id);
		await expect(request("GET", "/health/ready")).resolves.toMatchObject({ status: 200, body: { checks: { "audit.database": "up" } } });
	});
});

describeWith(url && restartable(ELASTICSEARCH_RESTARTABLE_ENV))("auditing while Elasticsearch is down", () => {
	jest.setTimeout(120_000);
	const suite = useNode("sqlite", { ELASTICSEARCH_URL: url ?? "" });
	const request = httpClient(() => suite.node.baseUrl!);
	afterAll(() => infra("up", "elasticsearch"));

	it("accepts every write, retries the audit, and makes each event searchable once when it is back", async () => {
		await infra("down", "elasticsearch");
		await waitFor(async () => (await request("GET", "/health/ready")).body.checks?.["audit.database"]?.startsWith("down"));
		const tag = randomBytes(4).toString("hex");
		const ids: string[] = [];
		for (let i = 0; i < 3; i++) {
			const created = await request("POST", "/api/v1/products", { body: { name: `Unaudited ${tag} ${i}`, price: 1 } });
			expect(created.status).toBe(201);
			ids.push(created.body.id);
		}
		await infra("up", "elasticsearch");
		for (const id of ids) {
			const page = await auditTrail(suite.node.broker, { aggregateId: id, type: "product.created" }, 1, OUTAGE_MS);
			expect(page.total).toBe(1);
		}
	});
});

const brokers = engineUrl(KAFKA_ENV, "127.0.0.1:9092");
const kafka = new Kafka({ clientId: `test-${randomBytes(4).toString("hex")}`, brokers: [brokers ?? "127.0.0.1:9092"], logLevel: logLevel.NOTHING });

interface Seen {
	topic: string;
	key: string;
	event: EventEnvelope;
	headers: Record<string, string>;
	/** partition/offset */
	at: string;
}

/** The poison messages are not JSON; the reader must not choke on them. */
function parseOrNothing(text: string): EventEnvelope {
	try {
		return JSON.parse(text);
	} catch {
		return {} as EventEnvelope;
	}
}

interface TopicReader {
	seen: Seen[];
	/** Waits until every message the topics hold now has been read. */
	caughtUp(): Promise<void>;
	close(): Promise<void>;
}

/** A consumer group of the test's own reading the namespace's `topics` from the beginning (once they exist). */
async function readTopics(namespace: string, topics: string[]): Promise<TopicReader> {
	const names = topics.map(t => `${namespace}.${t}`);
	const admin = kafka.admin();
	await admin.connect();
	const consumer = kafka.consumer({ groupId: `${namespace}.test-reader-${randomBytes(3).toString("hex")}` });
	try {
		// The node creates its topics as it starts.
		await waitFor(async () => {
			const existing = await admin.listTopics();
			return names.every(t => existing.includes(t));
		});
		await consumer.connect();
		await consumer.subscribe({ topics: names, fromBeginning: true });
	} catch (err) {
		await Promise.all([consumer.disconnect(), admin.disconnect()]);
		throw err;
	}
	const seen: Seen[] = [];
	const next = new Map<string, bigint>();
	await consumer.run({
		eachMessage: async ({ topic, partition, message }) => {
			// A rebalance may hand this reader a message again: a copy on the topic is one at another offset.
			if (BigInt(message.offset) < (next.get(`${topic}/${partition}`) ?? 0n)) return;
			seen.push({
				topic: topic.slice(namespace.length + 1),
				key: String(message.key),
				event: parseOrNothing(String(message.value)),
				headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
				at: `${partition}/${message.offset}`
			});
			next.set(`${topic}/${partition}`, BigInt(message.offset) + 1n);
		}
	});
	return {
		seen,
		async caughtUp() {
			const ends = (await Promise.all(names.map(async topic => (await admin.fetchTopicOffsets(topic)).map(p => ({ key: `${topic}/${p.partition}`, high: BigInt(p.high) }))))).flat();
			await waitFor(() => ends.every(({ key, high }) => (next.get(key) ?? 0n) >= high));
		},
		close: async () => {
			await consumer.disconnect();
			await admin.disconnect();
		}
	};
}

/** A product.created as the products service would write it. */
function productCreated(productId: string, initialStock: number): EventEnvelope<"product.created"> {
	return buildEvent(
		"product.created",
		"products",
		productId,
		{
			product: { id: productId, sku: `K-${productId.slice(0, 8)}`, name: "Sent by the test", description: null, category: null, price: 1, currency: "EUR", active: true, version: 1 },
			initialStock,
			lowStockThreshold: 0
		},
		{ correlationId: `c-${randomUUID()}` }
	);
}

/** What the test's consumer group saw of each event: when each attempt at it began. */
type Attempts = Map<string, number[]>;

/**
 * A consumer group of the test's own on product-events (the test-group service, through
 * the product's consumer mixin): it notes every attempt at an event, and refuses the
 * events whose ids are in `refused`.
 */
function testGroup(refused: Set<string>, attempts: Attempts): ServiceSchema {
	type This = Service;
	async function take(event: EventEnvelope) {
		attempts.set(event.id, [...(attempts.get(event.id) ?? []), Date.now()]);
		if (refused.has(event.id)) throw new Error(`the test group refuses ${event.id}`);
	}
	return defineService<This>({
		name: "test-group",
		mixins: [createEventConsumerMixin<This>({}, { handlersIdempotentById: true, recordTopics: { "product-events": (_svc, record) => take(record as EventEnvelope) } })],
		// No database of its own: its parts (the Kafka consumer) start with it and stop with it.
		started(this: This) {
			return lifecycleOf(this).start();
		},
		stopped(this: This) {
			return lifecycleOf(this).stop();
		}
	});
}

describeWith(brokers)("the Kafka bridge", () => {
	jest.setTimeout(90_000);
	const namespace = `k${randomBytes(4).toString("hex")}`;
	const refused = new Set<string>();
	const attempts: Attempts = new Map();
	const suite = useNode("sqlite", { KAFKA_BROKERS: brokers ?? "", NAMESPACE: namespace, KAFKA_PARTITIONS: "2" }, [testGroup(refused, attempts)]);
	const request = httpClient(() => suite.node.baseUrl!);
	const { productWithStock, stock } = catalog(() => suite.node.broker);
	let reader: TopicReader;
	const stockOf = (productId: string) => waitFor(() => suite.node.broker.call("inventory.get", { productId }).catch(() => undefined));
	const send = async (key: string, value: string, headers: Record<string, string> = {}) => {
		const producer = kafka.producer();
		await producer.connect();
		try {
			await producer.send({ topic: `${namespace}.product-events`, messages: [{ key, value, headers }] });
		} finally {
			await producer.disconnect();
		}
	};
	const sendEvent = (key: string, event: EventEnvelope) => send(key, JSON.stringify(event), { type: event.type, id: event.id });
	const parkedWithKey = async (key: string) => {
		await reader.caughtUp();
		return reader.seen.filter(s => s.topic === "product-events.dlq" && s.key === key);
	};

	beforeAll(async () => {
		reader = await readTopics(namespace, ["product-events", "inventory-events", "purchase-events", "audit-logs", "product-events.dlq"]);
	});
	afterAll(() => reader?.close());

	it("publishes every event of a purchase flow to its topic once, keyed by its aggregate, and consumes them through the groups", async () => {
		const product = await productWithStock(5, { name: "Streamed" });
		const created = await request("POST", "/api/v1/purchases", { body: { items: [{ productId: product.id, quantity: 2 }] } });
		const purchaseId = created.body.id;
		await request("POST", `/api/v1/purchases/${purchaseId}/confirm`);
		// inventory consumed purchase.confirmed from Kafka: the reservation became a sale.
		await waitFor(async () => (await stock(product.id)).onHand === 3);

		// Every send to Kafka is done once the outboxes are drained; then the reader reads up to the end.
		await outboxesDrained(suite.node.broker);
		await reader.caughtUp();
		const purchaseEvents = reader.seen.filter(s => s.topic === "purchase-events" && s.event.aggregateId === purchaseId);
		expect(purchaseEvents.map(s => s.event.type)).toEqual(["purchase.created", "purchase.confirmed"]);
		expect(purchaseEvents.every(s => s.key === purchaseId && s.headers.id === s.event.id)).toBe(true);
		expect(reader.seen.filter(s => s.topic === "product-events" && s.event.aggregateId === product.id).map(s => s.event.type)).toEqual(["product.created"]);
		const stockEvents = reader.seen.filter(s => s.topic === "inventory-events" && s.event.aggregateId === product.id);
		expect(stockEvents.length).toBeGreaterThanOrEqual(3);
		const ids = reader.seen.map(s => s.event.id).filter(Boolean);
		expect(new Set(ids).size).toBe(ids.length);

		// audit read every topic as its own group, the gateway's request records included.
		const trail = await auditTrail(suite.node.broker, { aggregateId: purchaseId }, 2);
		expect(trail.items.map(e => e.type)).toEqual(["purchase.confirmed", "purchase.created"]);
		await requestRecord(suite.node.broker, created.headers.get("x-request-id")!);
		expect(reader.seen.some(s => s.topic === "audit-logs")).toBe(true);
		await expect(request("GET", "/health/ready")).resolves.toMatchObject({ status: 200, body: { checks: { kafka: "up" } } });
	});

	it("parks a message its consumers cannot read on the dead-letter topic, once per consumer group, and reads the next one of its partition", async () => {
		const key = `poison-${randomUUID()}`;
		await send(key, "{not json");
		// Same key, same partition: each group has to get past the poison message to reach it.
		const next = productCreated(randomUUID(), 2);
		await sendEvent(key, next);
		await expect(stockOf(next.aggregateId)).resolves.toMatchObject({ onHand: 2 });
		await auditTrail(suite.node.broker, { aggregateId: next.aggregateId, type: "product.created" });
		await waitFor(() => attempts.has(next.id));

		const parked = await parkedWithKey(key);
		expect(parked.map(s => s.headers.consumer).sort()).toEqual(["audit", "inventory", "test-group"]);
		for (const record of parked) expect(record.headers).toMatchObject({ "original-topic": "product-events", error: expect.stringMatching(/JSON/) });
	});

	it("retries an event its handler keeps refusing, waiting longer each time, then parks it with its error and reads the next one of its partition", async () => {
		const productId = randomUUID();
		// inventory's handler refuses a negative opening stock (the stocks table's CHECK); audit stores it.
		const refusedEvent = productCreated(productId, -1);
		refused.add(refusedEvent.id);
		const next = productCreated(productId, 4);
		await sendEvent(productId, refusedEvent);
		await sendEvent(productId, next);
		await expect(stockOf(productId)).resolves.toMatchObject({ onHand: 4 });
		await waitFor(() => attempts.has(next.id), 60_000);

		const tries = attempts.get(refusedEvent.id)!;
		expect(tries).toHaveLength(5);
		// 400 ms before the second attempt, doubling before each next one (lower bounds: a slow machine only waits longer).
		tries.slice(1).forEach((at, i) => expect(at - tries[i]).toBeGreaterThanOrEqual(400 * 2 ** i - 5));
		expect(attempts.get(next.id)).toHaveLength(1);

		const parked = await parkedWithKey(productId);
		expect(parked.map(s => s.headers.consumer).sort()).toEqual(["inventory", "test-group"]);
		expect(parked.every(s => s.event.id === refusedEvent.id && s.headers.id === refusedEvent.id)).toBe(true);
		expect(parked.find(s => s.headers.consumer === "inventory")!.headers).toMatchObject({ "original-topic": "product-events", error: expect.stringMatching(/CHECK constraint failed: on_hand >= 0/) });
		expect(parked.find(s => s.headers.consumer === "test-group")!.headers.error).toBe(`the test group refuses ${refusedEvent.id}`);
		// audit took both events: it parked nothing.
		const trail = await auditTrail(suite.node.broker, { aggregateId: productId, type: "product.created" }, 2);
		expect(trail.items.map(e => e.id).sort()).toEqual([refusedEvent.id, next.id].sort());
	});
});

describeWith(brokers)("the Kafka metrics", () => {
	let node: TestNode;
	beforeAll(async () => {
		node = await startNode({ KAFKA_BROKERS: brokers!, NAMESPACE: `km${randomBytes(4).toString("hex")}`, METRICS_PORT: String(await freePort()) });
	});
	afterAll(() => node?.stop());

	it("exports kafka_connected, counts the events put on their topics and consumed from them, and the consumer's lag", async () => {
		await waitFor(() => registryMetric(node.broker, "kafka_connected") === 1);
		const request = httpClient(() => node.baseUrl!);
		expect((await request("POST", "/api/v1/products", { body: { name: "Counted on Kafka", price: 1 } })).status).toBe(201);
		await waitFor(() => registryMetric(node.broker, "events_consumed_total", { consumer: "inventory", type: "product.created" }) === 1);
		expect(registryMetric(node.broker, "events_published_total", { service: "products", topic: "product-events", destination: "kafka" })).toBe(1);
		expect(registryMetric(node.broker, "events_published_total", { service: "products", destination: "inventory" })).toBe(0);
		// The group's lag on the topic, once it handled the batch: nothing left behind.
		await waitFor(() => (node.broker.metrics.getMetric("kafka_consumer_lag_messages")?.values.size ?? 0) > 0);
		expect(registryMetric(node.broker, "kafka_consumer_lag_messages", { consumer: "inventory", topic: "product-events" })).toBe(0);
	});
});

describeWith(brokers && restartable(KAFKA_RESTARTABLE_ENV))("writes while Kafka is down", () => {
	jest.setTimeout(120_000);
	const ns = `kd${randomBytes(4).toString("hex")}`;
	const suite = useNode("sqlite", { KAFKA_BROKERS: brokers ?? "", NAMESPACE: ns });
	const request = httpClient(() => suite.node.baseUrl!);
	afterAll(() => infra("up", "kafka"));

	it("accepts every write, keeps the events in the outbox, and puts each on its topic once when Kafka is back", async () => {
		await waitFor(async () => (await request("GET", "/health/ready")).status === 200);
		await infra("down", "kafka");
		await waitFor(async () => (await request("GET", "/health/ready")).body.checks?.kafka?.startsWith("down"));
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
			const records = await auditTrail(suite.node.broker, { type: "http.request", correlationId }, 1, OUTAGE_MS);
			expect(records.total).toBe(1);
		}
		await infra("up", "kafka");
		// inventory reads product.created from Kafka again: every offline product gets its stock.
		const ids: string[] = [];
		for (const name of names) {
			const page = await waitFor(async () => {
				const found = await request("GET", `/api/v1/products?q=${encodeURIComponent(name)}`);
				return found.body.total === 1 && found.body;
			});
			ids.push(page.items[0].id);
			await waitFor(async () => (await request("GET", `/api/v1/inventory/${page.items[0].id}`)).status === 200, OUTAGE_MS);
		}

		// Both stores drop a redelivered event by its id, so only the topics show whether one went twice.
		await outboxesDrained(suite.node.broker, OUTAGE_MS);
		const reader = await readTopics(ns, ["product-events", "inventory-events"]);
		try {
			await reader.caughtUp();
			for (const id of ids) {
				const messages = reader.seen.filter(s => s.event.aggregateId === id);
				expect(messages.filter(s => s.topic === "product-events").map(s => s.event.type)).toEqual(["product.created"]);
				expect(messages.filter(s => s.event.type === "inventory.stock-updated")).toHaveLength(1);
				const eventIds = messages.map(s => s.event.id);
				expect(new Set(eventIds).size).toBe(eventIds.length);
			}
		} finally {
			await reader.close();
		}
		for (const id of ids) {
			await expect(request("GET", `/api/v1/inventory/${id}/movements`)).resolves.toMatchObject({ body: { total: 1 } });
			const trail = await auditTrail(suite.node.broker, { aggregateId: id, type: "product.created" }, 1, OUTAGE_MS);
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
