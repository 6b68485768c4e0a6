import { randomBytes, randomUUID } from "node:crypto";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { Kafka, logLevel, type Consumer } from "kafkajs";
import { describeWith, engineUrl, KAFKA_ENV } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import { httpClient } from "../helpers/http";
import { waitFor } from "../helpers/wait";
import { catalog } from "../helpers/catalog";
import type { EventEnvelope } from "../../services/shared/events";
import type { DbServiceThis } from "../../mixins/db.mixin";

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

const infra = (...args: string[]) =>
	new Promise<void>((resolve, reject) => {
		const child = spawn("bash", [join(__dirname, "../../scripts/infra.sh"), ...args], { stdio: "ignore" });
		child.once("exit", code => (code === 0 ? resolve() : reject(new Error(`infra.sh ${args.join(" ")} exited with ${code}`))));
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
		const names = Array.from({ length: 5 }, (_, i) => `Offline ${ns} ${i}`);
		for (const name of names) {
			const created = await request("POST", "/api/v1/products", { body: { name, price: 1, stock: 2 } });
			expect(created.status).toBe(201);
		}
		const outbox = (suite.node.broker.getLocalService("products") as unknown as DbServiceThis).db;
		const backlog = await outbox.rows<{ n: number | string }>("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL");
		expect(Number(backlog[0].n)).toBeGreaterThanOrEqual(5);
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
