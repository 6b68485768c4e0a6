/**
 * A cached GET the gateway once answered from its near cache is answered again before
 * moleculer-web routes it (services/api/near-cache-route.ts): the same body and headers,
 * and still behind the key, the body rule, the rate limit and the cache version.
 */
import type { ServiceBroker, Span } from "moleculer";
import { expectProblem, httpClient, sendRaw } from "../helpers/http";
import { TEST_API_KEY, startNode, type TestNode } from "../helpers/nodes";
import { createTestDatabase, type TestDatabase } from "../helpers/databases";
import { freePort } from "../../scripts/cluster-nodes";
import { waitFor } from "../helpers/wait";
import { registryMetric } from "../helpers/metrics";

/** A node on SQLite with its metrics on (they are off without a metrics port). */
function useMeasuredNode(env: Record<string, string> = {}) {
	const suite = {} as { node: TestNode; db: TestDatabase };
	beforeAll(async () => {
		suite.db = await createTestDatabase("sqlite");
		suite.node = await startNode({ DATABASE_URL: suite.db.url, METRICS_PORT: String(await freePort()), ...env });
	});
	afterAll(async () => {
		await suite.node?.stop();
		await suite.db?.drop();
	});
	return suite;
}

/** How many HTTP requests moleculer-web's `api.rest` action has handled on this node. */
const restCalls = (broker: ServiceBroker) => registryMetric(broker, "moleculer.request.total", { action: "api.rest" });

describe("a cached read the gateway has answered before", () => {
	const suite = useMeasuredNode();
	const request = httpClient(() => suite.node.baseUrl!);
	let path: string;

	beforeAll(async () => {
		const created = await request("POST", "/api/v1/products", { body: { name: "Known lamp", price: 12 } });
		path = `/api/v1/products/${created.body.id}`;
		// The first read fills the near cache; the second is answered from it and makes the target known.
		await request("GET", path);
		await request("GET", path);
	});

	it("is answered without moleculer-web's route handling, with the same answer and headers as before", async () => {
		const routed = await request("GET", path, { headers: { "X-Request-ID": "known-read-1" } });
		const before = restCalls(suite.node.broker);
		expect(before).toBeGreaterThan(0);
		const known = await request("GET", path, { headers: { "X-Request-ID": "known-read-2" } });
		expect(restCalls(suite.node.broker)).toBe(before);
		expect(known.status).toBe(200);
		expect(known.body).toEqual(routed.body);
		expect(known.headers.get("content-type")).toBe("application/json; charset=utf-8");
		expect(known.headers.get("x-request-id")).toBe("known-read-2");
		expect(known.headers.get("x-trace-id")).toMatch(/^[0-9a-f]{32}$/);
		expect(known.headers.get("x-trace-id")).not.toBe(routed.headers.get("x-trace-id"));
		expect(Number(known.headers.get("x-rate-limit-remaining"))).toBe(Number(routed.headers.get("x-rate-limit-remaining")) - 1);
		expect(known.headers.get("x-rate-limit-limit")).toBe(routed.headers.get("x-rate-limit-limit"));
	});

	it("answers what a write changed, not what it kept", async () => {
		expect((await request("PATCH", path, { body: { price: 13 } })).status).toBe(200);
		await expect(request("GET", path)).resolves.toMatchObject({ status: 200, body: { price: 13 } });
	});

	it("still refuses a request without a valid key", async () => {
		expectProblem(await request("GET", path, { apiKey: false }), 401, "MISSING_API_KEY");
		expectProblem(await request("GET", path, { apiKey: "not-a-key-at-all" }), 401, "INVALID_API_KEY");
	});

	it("still refuses a GET with a body", async () => {
		const body = '{"id":"x"}';
		const answer = await sendRaw(suite.node.baseUrl!, "GET", path, { "X-API-Key": TEST_API_KEY, "Content-Type": "application/json", "Content-Length": String(body.length) }, body);
		expect(answer.status).toBe(400);
		expect(JSON.parse(answer.body)).toMatchObject({ code: "UNEXPECTED_BODY" });
	});

	it("is measured under its route, like every other request", async () => {
		const count = () => registryMetric(suite.node.broker, "http_requests_total", { route: "/api/v1/products/:id", method: "GET", status_class: "2xx" });
		const before = count();
		const calls = restCalls(suite.node.broker);
		await request("GET", path);
		expect(restCalls(suite.node.broker)).toBe(calls);
		// Counted once the answer has gone, which can be just after the client read it.
		await waitFor(() => count() === before + 1);
	});
});

describe("a cached read the gateway has answered before, past the rate limit", () => {
	const suite = useMeasuredNode({ RATE_LIMIT: "8" });
	const request = httpClient(() => suite.node.baseUrl!);

	it("is refused 429 with Retry-After once the key's budget is spent", async () => {
		const created = await request("POST", "/api/v1/products", { body: { name: "Limited lamp", price: 2 } });
		const path = `/api/v1/products/${created.body.id}`;
		const answers = [];
		for (let i = 0; i < 8; i++) answers.push(await request("GET", path));
		expect(answers.map(a => a.status)).toEqual([200, 200, 200, 200, 200, 200, 200, 429]);
		const before = restCalls(suite.node.broker);
		const refused = await request("GET", path);
		expect(restCalls(suite.node.broker)).toBe(before);
		expectProblem(refused, 429, "RATE_LIMIT_EXCEEDED");
		expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
		expect(refused.headers.get("x-rate-limit-remaining")).toBe("0");
	});
});

describe("a cached read the gateway has answered before, with tracing on", () => {
	const suite = useMeasuredNode({ TRACING_EXPORTER: "console", TRACING_SAMPLE_RATE: "0.5" });
	const request = httpClient(() => suite.node.baseUrl!);

	it("goes the whole way, recorded, when the sampler chooses it, and is answered at once when not", async () => {
		const recorded = new Set<string>();
		const tracer = suite.node.broker.tracer as unknown as { exporter: object[] };
		tracer.exporter.push({ spanStarted: () => undefined, spanFinished: (span: Span) => recorded.add(span.traceID), stop: async () => undefined });
		const created = await request("POST", "/api/v1/products", { body: { name: "Traced lamp", price: 3 } });
		const path = `/api/v1/products/${created.body.id}`;
		await request("GET", path);
		await request("GET", path);

		const before = restCalls(suite.node.broker);
		const traceIds: string[] = [];
		for (let i = 0; i < 20; i++) {
			const answer = await request("GET", path);
			expect(answer.status).toBe(200);
			traceIds.push(answer.headers.get("x-trace-id")!);
		}
		const routed = restCalls(suite.node.broker) - before;
		expect(routed).toBeGreaterThan(0);
		expect(routed).toBeLessThan(20);
		// Exactly the requests that went the whole way were recorded: the sampler's answer held for them.
		await waitFor(() => traceIds.filter(id => recorded.has(id)).length >= routed);
		expect(traceIds.filter(id => recorded.has(id))).toHaveLength(routed);
	});
});
