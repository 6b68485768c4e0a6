/**
 * The trace id of a request on one node without Kafka (events through the outbox's
 * in-cluster calls): with tracing off it still names the request in its answer, its
 * problems and its audit entries; with Zipkin on, the in-cluster hop continues the trace.
 */
import { describeWith, engineUrl, ZIPKIN_ENV } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import { httpClient } from "../helpers/http";
import { waitFor } from "../helpers/wait";
import { catalog } from "../helpers/catalog";

const zipkin = engineUrl(ZIPKIN_ENV, "http://127.0.0.1:9411");

interface ZipkinSpan {
	id: string;
	parentId?: string;
	name: string;
	kind?: string;
	localEndpoint?: { serviceName?: string };
}

describe("trace ids with tracing off", () => {
	const suite = useNode("sqlite");
	const request = httpClient(() => suite.node.baseUrl!);
	const { productWithStock } = catalog(() => suite.node.broker);

	it("answers every request with a trace id, puts it in its problems and in the audit entries of the events it caused", async () => {
		const product = await productWithStock(4);
		const bought = await request("POST", "/api/v1/purchases", { body: { items: [{ productId: product.id, quantity: 1 }] } });
		expect(bought.status).toBe(201);
		const traceId = bought.headers.get("x-trace-id")!;
		expect(traceId).toMatch(/^[0-9a-f]{32}$/);
		// Without an X-Request-ID, the correlation id is the trace id written as a UUID.
		expect(bought.headers.get("x-request-id")!.replace(/-/g, "")).toBe(traceId);
		const entry = await waitFor(async () => (await request("GET", `/api/v1/audit?type=purchase.created&aggregateId=${bought.body.id}`)).body.items?.[0]);
		expect(entry).toMatchObject({ traceId, correlationId: bought.headers.get("x-request-id") });
		// The inventory events the purchase caused are in the same trace.
		const stock = await waitFor(async () => {
			const page = (await request("GET", `/api/v1/audit?traceId=${traceId}&type=inventory.stock-updated`)).body;
			return page.total > 0 && page.items;
		});
		expect(stock[0]).toMatchObject({ traceId, aggregateId: product.id });

		const refused = await request("GET", "/api/v1/products/not-a-uuid", { headers: { "X-Request-Id": "mine-1" } });
		expect(refused.status).toBe(422);
		expect(refused.body).toMatchObject({ requestId: "mine-1", traceId: refused.headers.get("x-trace-id") });
		expect(refused.headers.get("x-request-id")).toBe("mine-1");
	});

	it("takes the trace id of a client's traceparent, and makes a new one for a malformed header", async () => {
		const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
		const continued = await request("GET", "/api/v1/products", { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
		expect(continued.headers.get("x-trace-id")).toBe(traceId);
		const malformed = await request("GET", "/api/v1/products", { headers: { traceparent: `00-${traceId.toUpperCase()}-00f067aa0ba902b7-01` } });
		expect(malformed.headers.get("x-trace-id")).toMatch(/^[0-9a-f]{32}$/);
		expect(malformed.headers.get("x-trace-id")).not.toBe(traceId);
	});
});

describeWith(zipkin)("a trace through the outbox without Kafka, in Zipkin", () => {
	const suite = useNode("sqlite", { TRACING_EXPORTER: "zipkin", ZIPKIN_URL: zipkin ?? "" });
	const request = httpClient(() => suite.node.baseUrl!);
	const { productWithStock } = catalog(() => suite.node.broker);

	it("continues the trace in the relay's call to each consumer group, and in the gateway's record of the request", async () => {
		const product = await productWithStock(4);
		const bought = await request("POST", "/api/v1/purchases", { body: { items: [{ productId: product.id, quantity: 1 }] } });
		const traceId = bought.headers.get("x-trace-id");
		const spans = await waitFor(async () => {
			const response = await fetch(`${zipkin}/api/v2/trace/${traceId}`);
			const found = response.ok ? ((await response.json()) as ZipkinSpan[]) : [];
			return found.some(s => s.name === "action 'audit.consumeevent'") && found.some(s => s.name === "action 'audit.recordrequest'") && found;
		});
		expect(spans.filter(s => !s.parentId).map(s => s.localEndpoint?.serviceName)).toEqual(["api"]);
		const delivered = spans.find(s => s.name === "deliver purchase.created to audit");
		expect(delivered?.localEndpoint?.serviceName).toBe("purchases");
		const consumed = spans.find(s => s.name === "action 'audit.consumeevent'" && s.parentId === delivered!.id);
		expect(consumed?.localEndpoint?.serviceName).toBe("audit");
	});
});
