/**
 * LOG_FORMAT=json on a real node process: every line it prints is one JSON object; the
 * lines written while a request or an event is handled carry its trace, correlation and
 * event ids; and no request body value, API key or Idempotency-Key is ever printed.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, spawnNode, waitReady, type RunningNode } from "../../scripts/cluster-nodes";
import { httpClient } from "../helpers/http";
import { waitFor } from "../helpers/wait";
import { describeWith, engineUrl, KAFKA_ENV } from "../helpers/engines";

const API_KEY = `json-logs-key-${randomUUID()}`;
const NODE_ID = "json-logs-node";

interface Line {
	time: string;
	level: string;
	msg: string;
	node: string;
	service: string;
	traceId?: string;
	correlationId?: string;
	eventId?: string;
	action?: string;
	error?: { name: string; type?: string; code?: number; message: string; stack?: string };
}

/**
 * A node with every service, LOG_FORMAT=json and LOG_LEVEL=debug, started before the suite
 * and stopped after it, with what it prints on stdout and stderr kept apart.
 */
function useJsonLoggingNode(env: Record<string, string> = {}) {
	const node = { port: 0, stdout: "", stderr: "" } as { process: RunningNode; port: number; stdout: string; stderr: string; dir: string };
	beforeAll(async () => {
		node.dir = mkdtempSync(join(tmpdir(), "pi-json-logs-"));
		node.port = await freePort();
		node.process = spawnNode(
			{ name: NODE_ID, services: "all", port: node.port },
			{ LOG_FORMAT: "json", LOG_LEVEL: "debug", API_KEYS: `shop:${API_KEY}`, METRICS_PORT: "0", NODE_ENV: "test", DATABASE_URL: `sqlite:${join(node.dir, "logs.sqlite")}`, ...env }
		);
		node.process.child.stdout!.on("data", chunk => (node.stdout += String(chunk)));
		node.process.child.stderr!.on("data", chunk => (node.stderr += String(chunk)));
		await waitReady(node.port, 60_000);
	});
	afterAll(async () => {
		await node.process?.stop("SIGTERM");
		if (node.dir) rmSync(node.dir, { recursive: true, force: true });
	});
	const lines = (): Line[] =>
		[node.stdout, node.stderr]
			.flatMap(text => text.split("\n"))
			.filter(line => line !== "")
			.map(line => JSON.parse(line) as Line);
	return {
		streams: node,
		lines,
		linesOf: (correlationId: string) => lines().filter(line => line.correlationId === correlationId),
		api: httpClient(() => `http://127.0.0.1:${node.port}`)
	};
}

describe("JSON logs of a node process", () => {
	jest.setTimeout(90_000);
	const { streams, lines, linesOf, api } = useJsonLoggingNode();

	it("prints nothing but JSON lines, each with its time, level, message, node and service", async () => {
		await waitFor(() => lines().some(line => /ServiceBroker with \d+ service\(s\) started/.test(line.msg)));
		expect(streams.stdout).not.toBe("");
		for (const line of lines()) {
			expect(line).toEqual(expect.objectContaining({ level: expect.any(String), msg: expect.any(String), node: NODE_ID, service: expect.any(String) }));
			expect(new Date(line.time).toISOString()).toBe(line.time);
		}
	});

	it("gives the lines of a product's creation its ids, and the inventory's handling of product.created the event's id", async () => {
		const requestId = `logs-create-${randomUUID()}`;
		const created = await api("POST", "/api/v1/products", { body: { name: "Logged product", price: 3.5, stock: 4 }, apiKey: API_KEY, headers: { "X-Request-ID": requestId } });
		expect(created.status).toBe(201);
		const handled = await waitFor(() => linesOf(requestId).find(line => line.service === "inventory" && line.msg.startsWith("Handled product.created")));
		expect(handled).toMatchObject({ level: "debug", action: "inventory.consumeEvents", correlationId: requestId, eventId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
		const ofCreate = linesOf(requestId).filter(line => line.action === "products.create");
		expect(ofCreate.length).toBeGreaterThan(0);
		// Every line of the request, at the gateway, in the services and in the consumers of its
		// event, carries the trace id the answer gave (tracing is off: the id still follows).
		const traceId = created.headers.get("x-trace-id");
		expect(traceId).toMatch(/^[0-9a-f]{32}$/);
		expect(new Set(linesOf(requestId).map(line => line.traceId))).toEqual(new Set([traceId]));
	});

	it("gives the lines of a keyed purchase its ids, and prints none of its body values, its key or the API key", async () => {
		const product = await api("POST", "/api/v1/products", { body: { name: "Bought product", price: 2, stock: 10 }, apiKey: API_KEY });
		await waitFor(async () => (await api("GET", `/api/v1/inventory/${product.body.id}`, { apiKey: API_KEY })).status === 200);
		const requestId = `logs-purchase-${randomUUID()}`;
		const idempotencyKey = `idem-${randomUUID()}`;
		const customerId = `customer-${randomUUID()}`;
		const bought = await api("POST", "/api/v1/purchases", {
			body: { items: [{ productId: product.body.id, quantity: 3 }], customerId },
			apiKey: API_KEY,
			headers: { "X-Request-ID": requestId, "Idempotency-Key": idempotencyKey }
		});
		expect(bought.status).toBe(201);
		await waitFor(() => linesOf(requestId).find(line => line.service === "audit" && line.msg.startsWith("Handled purchase.created")));
		expect(linesOf(requestId).filter(line => line.action === "purchases.create").map(line => line.traceId)).toContain(bought.headers.get("x-trace-id"));
		const printed = streams.stdout + streams.stderr;
		for (const secret of [customerId, idempotencyKey, API_KEY]) expect(printed).not.toContain(secret);
	});

	it("gives a refused request's lines its ids and the error's type, without the values it refused", async () => {
		const requestId = `logs-refused-${randomUUID()}`;
		const refusedValue = `not-a-uuid-${randomUUID()}`;
		const refused = await api("POST", "/api/v1/purchases", {
			body: { items: [{ productId: refusedValue, quantity: -3 }], customerId: refusedValue },
			apiKey: API_KEY,
			headers: { "X-Request-ID": requestId, "Idempotency-Key": `idem-${refusedValue}` }
		});
		expect(refused.status).toBe(422);
		const answered = await waitFor(() => linesOf(requestId).find(line => line.msg === "POST /api/v1/purchases answered 422 VALIDATION_ERROR."));
		expect(answered).toMatchObject({ level: "debug", service: "api", traceId: refused.headers.get("x-trace-id"), action: "api.rest" });
		expect(linesOf(requestId).find(line => line.error)?.error).toMatchObject({ name: "ValidationError", type: "VALIDATION_ERROR", code: 422 });
		expect(streams.stdout + streams.stderr).not.toContain(refusedValue);
	});
});

const brokers = engineUrl(KAFKA_ENV, "127.0.0.1:9092");

describeWith(brokers)("JSON logs of a node consuming through Kafka", () => {
	jest.setTimeout(90_000);
	const { linesOf, api } = useJsonLoggingNode({ KAFKA_BROKERS: brokers ?? "", NAMESPACE: `jl${randomBytes(4).toString("hex")}`, KAFKA_PARTITIONS: "1" });

	it("gives the lines of an event taken from Kafka its event id and the correlation id of the request that caused it", async () => {
		const requestId = `logs-kafka-${randomUUID()}`;
		const created = await api("POST", "/api/v1/products", { body: { name: "Kafka logged", price: 1, stock: 2 }, apiKey: API_KEY, headers: { "X-Request-ID": requestId } });
		expect(created.status).toBe(201);
		const handled = await waitFor(() => linesOf(requestId).find(line => line.service === "inventory" && line.msg.startsWith("Handled product.created")), 60_000);
		// No action runs it: the ids come from the event itself, the trace from its traceparent.
		expect(handled).toMatchObject({ correlationId: requestId, traceId: created.headers.get("x-trace-id"), eventId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
		expect(handled.action).toBeUndefined();
	});
});
