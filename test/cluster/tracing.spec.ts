/**
 * A purchase's trace, live: real nodes over NATS with Kafka, exporting to a real Zipkin,
 * read back through Zipkin's API: the gateway, purchases, inventory and audit, and the
 * Kafka hop (the relay's produce span and the consumers' spans continuing it).
 */
import { clusterEngines, describeWith, engineUrl, KAFKA_ENV, ZIPKIN_ENV } from "../helpers/engines";
import { useCluster } from "../helpers/cluster";
import { httpClient } from "../helpers/http";
import { waitFor } from "../helpers/wait";
import { takingTurns } from "../helpers/taking-turns";
import { newTraceId } from "../../contracts/trace-context";

const engines = clusterEngines();
const kafka = engineUrl(KAFKA_ENV, "127.0.0.1:9092");
const zipkin = engineUrl(ZIPKIN_ENV, "http://127.0.0.1:9411");

interface ZipkinSpan {
	traceId: string;
	id: string;
	parentId?: string;
	name: string;
	kind?: string;
	localEndpoint?: { serviceName?: string };
	tags?: Record<string, string>;
}

/** The spans Zipkin holds for a trace (none yet: an empty list). */
async function traceInZipkin(traceId: string): Promise<ZipkinSpan[]> {
	const response = await fetch(`${zipkin}/api/v2/trace/${traceId}`);
	if (response.status === 404) return [];
	if (!response.ok) throw new Error(`Zipkin answered ${response.status}: ${await response.text()}`);
	return (await response.json()) as ZipkinSpan[];
}

const serviceOf = (span: ZipkinSpan) => span.localEndpoint?.serviceName ?? "";

const TRACED_SERVICES = ["api", "purchases", "inventory", "audit"];

/**
 * The trace once every node has sent its part (each sends its spans every second): spans of
 * the four services, audit's consumer of purchase.created among them, and every span's parent
 * in it but for `outsideParent` (the client's span). A consumer may finish its span before
 * the relay hears Kafka's acknowledgement and finishes the producer's, so the trace is whole
 * only when the parents are there too. After 30 s, whatever is there.
 */
async function traceDownToAudit(traceId: string, outsideParent?: string): Promise<ZipkinSpan[]> {
	const complete = (spans: ZipkinSpan[]) => {
		const ids = new Set(spans.map(s => s.id));
		return (
			TRACED_SERVICES.every(service => spans.some(s => serviceOf(s) === service)) &&
			spans.some(s => s.kind === "CONSUMER" && serviceOf(s) === "audit" && s.tags?.eventType === "purchase.created") &&
			spans.every(s => !s.parentId || s.parentId === outsideParent || ids.has(s.parentId))
		);
	};
	return waitFor(async () => {
		const spans = await traceInZipkin(traceId);
		return complete(spans) && spans;
	}, 30_000).catch(() => traceInZipkin(traceId));
}

describeWith(engines && kafka && zipkin)("a purchase's trace in Zipkin, across nodes, the outbox and Kafka", () => {
	takingTurns();
	jest.setTimeout(120_000);
	const cluster = useCluster(
		() => engines,
		[
			{ name: "trace-gateway", services: "api" },
			{ name: "trace-stock", services: "products,inventory" },
			{ name: "trace-orders", services: "purchases,audit" }
		],
		{ KAFKA_BROKERS: kafka!, KAFKA_PARTITIONS: "1", TRACING_EXPORTER: "zipkin", ZIPKIN_URL: zipkin!, TRACING_SAMPLE_RATE: "1" }
	);
	const request = httpClient(() => cluster.gateways[0]);

	async function productWithStock(stock: number): Promise<string> {
		const created = await request("POST", "/api/v1/products", { body: { name: "Traced lamp", price: 12.5, stock } });
		expect(created.status).toBe(201);
		await waitFor(async () => (await request("GET", `/api/v1/inventory/${created.body.id}`)).status === 200);
		return created.body.id as string;
	}

	it("follows a purchase from the gateway through purchases and inventory, over Kafka, to the audit store", async () => {
		const productId = await productWithStock(5);
		const bought = await request("POST", "/api/v1/purchases", { body: { items: [{ productId, quantity: 2 }] }, headers: { "X-Request-Id": "order-trace-1" } });
		expect(bought.status).toBe(201);
		const traceId = bought.headers.get("x-trace-id")!;
		expect(traceId).toMatch(/^[0-9a-f]{32}$/);
		// The client's correlation id stays its own; the trace id is another.
		expect(bought.headers.get("x-request-id")).toBe("order-trace-1");

		const spans = await traceDownToAudit(traceId);
		const services = new Set(spans.map(serviceOf));
		for (const service of TRACED_SERVICES) expect(services).toContain(service);
		expect(spans.every(s => s.traceId === traceId)).toBe(true);

		// One root, the gateway's; every other span's parent is in the trace.
		const ids = new Set(spans.map(s => s.id));
		const roots = spans.filter(s => !s.parentId);
		expect(roots.map(serviceOf)).toEqual(["api"]);
		expect(spans.filter(s => s.parentId && !ids.has(s.parentId))).toEqual([]);

		// The Kafka hop: purchases' relay produced purchase.created in a span of the purchase's
		// trace, and audit's consumer continued that very span.
		const byId = new Map(spans.map(s => [s.id, s]));
		const produced = spans.find(s => s.kind === "PRODUCER" && s.tags?.eventType === "purchase.created");
		expect(produced).toMatchObject({ name: "publish purchase-events", localEndpoint: { serviceName: "purchases" } });
		const consumed = spans.filter(s => s.kind === "CONSUMER" && s.parentId === produced!.id);
		expect(consumed.map(serviceOf)).toContain("audit");
		// ...and the producer span hangs under the action that wrote the event, under the gateway's.
		let ancestor = byId.get(produced!.parentId!);
		expect(ancestor?.name).toBe("action 'purchases.create'");
		while (ancestor?.parentId) ancestor = byId.get(ancestor.parentId);
		expect(serviceOf(ancestor!)).toBe("api");

		// The audit entry of the event carries the trace id.
		const entries = await waitFor(async () => {
			const found = await request("GET", `/api/v1/audit?type=purchase.created&aggregateId=${bought.body.id}`);
			return found.body.total === 1 && found.body.items;
		});
		expect(entries[0]).toMatchObject({ traceId, correlationId: "order-trace-1" });
		const byTrace = await request("GET", `/api/v1/audit?traceId=${traceId}`);
		expect(byTrace.body.items.map((e: { type: string }) => e.type)).toContain("purchase.created");
	});

	it("continues a client's traceparent, and passes on its choice not to sample", async () => {
		const productId = await productWithStock(5);
		const unsampled = { traceId: newTraceId(), span: "00f067aa0ba902b7" };
		const notRecorded = await request("POST", "/api/v1/purchases", {
			body: { items: [{ productId, quantity: 1 }] },
			headers: { traceparent: `00-${unsampled.traceId}-${unsampled.span}-00` }
		});
		expect(notRecorded.status).toBe(201);
		expect(notRecorded.headers.get("x-trace-id")).toBe(unsampled.traceId);

		const sampled = { traceId: newTraceId(), span: "b7ad6b7169203331" };
		const recorded = await request("POST", "/api/v1/purchases", {
			body: { items: [{ productId, quantity: 1 }] },
			headers: { traceparent: `00-${sampled.traceId}-${sampled.span}-01` }
		});
		expect(recorded.headers.get("x-trace-id")).toBe(sampled.traceId);
		const spans = await traceDownToAudit(sampled.traceId, sampled.span);
		expect(spans.filter(s => !s.parentId)).toEqual([]);
		expect(spans.filter(s => s.parentId === sampled.span).map(serviceOf)).toEqual(["api"]);

		// The unsampled purchase went the same way first, its audit entry knows its trace, and
		// by now its spans would have been sent with the later ones: there are none.
		const entry = await waitFor(async () => (await request("GET", `/api/v1/audit?type=purchase.created&aggregateId=${notRecorded.body.id}`)).body.items?.[0]);
		expect(entry.traceId).toBe(unsampled.traceId);
		expect(await traceInZipkin(unsampled.traceId)).toEqual([]);
	});

	it("puts the trace id in a problem answer", async () => {
		const missing = await request("GET", "/api/v1/purchases/00000000-0000-4000-8000-000000000000");
		expect(missing.status).toBe(404);
		expect(missing.body.traceId).toMatch(/^[0-9a-f]{32}$/);
		expect(missing.body.traceId).toBe(missing.headers.get("x-trace-id"));
		const spans = await waitFor(async () => {
			const found = await traceInZipkin(missing.body.traceId);
			return found.some(s => serviceOf(s) === "purchases") && found;
		});
		expect(spans.find(s => serviceOf(s) === "purchases")?.tags?.error).toBeDefined();
	});
});
