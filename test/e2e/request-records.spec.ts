/**
 * The gateway's records of write requests go to audit together: those under way at one time
 * share one `recordRequests` call, and audit stores each one once.
 */
import { randomUUID } from "node:crypto";
import type { Context, ServiceSchema } from "moleculer";
import { freePort } from "../../scripts/cluster-nodes";
import { createTestDatabase, type TestDatabase } from "../helpers/databases";
import { httpClient } from "../helpers/http";
import { metricIn, scrape } from "../helpers/metrics";
import { startNode, type TestNode } from "../helpers/nodes";
import { auditTrail, requestRecord } from "../helpers/audit";
import type { RecordAnswer, RequestRecord } from "../../contracts/events";
import { storeRecord } from "../../services/api/request-records";

describe("request records", () => {
	let db: TestDatabase;
	let node: TestNode;
	let metricsPort: number;
	const request = httpClient(() => node.baseUrl!);
	const calls = async () => metricIn(await scrape(metricsPort), "moleculer_request_total", { action: "audit.recordRequests" });
	const record = (id: string): RequestRecord => ({
		id,
		occurredAt: new Date().toISOString(),
		actor: "tester",
		method: "POST",
		route: "POST /api/v1/products",
		path: "/api/v1/products",
		status: 201,
		durationMs: 1.5,
		correlationId: `direct-${id}`
	});

	beforeAll(async () => {
		db = await createTestDatabase("sqlite");
		metricsPort = await freePort();
		node = await startNode({ DATABASE_URL: db.url, SERVICES: "api,products,audit", METRICS_PORT: String(metricsPort) });
	});
	afterAll(async () => {
		await node?.stop();
		await db?.drop();
	});

	it("records every write request answered, in calls to audit that carry the records under way together", async () => {
		const ids = Array.from({ length: 5 }, () => `records-${randomUUID()}`);
		for (const id of ids) expect((await request("POST", "/api/v1/products", { body: { name: `Recorded ${id}`, price: 1 }, headers: { "X-Request-Id": id } })).status).toBe(201);
		for (const id of ids) await expect(requestRecord(node.broker, id)).resolves.toMatchObject({ correlationId: id, payload: expect.objectContaining({ status: 201 }) });

		const before = await calls();
		const records = Array.from({ length: 12 }, () => record(randomUUID()));
		await Promise.all(records.map(r => storeRecord(node.broker, r, undefined)));
		// The first goes at once; the eleven sent while it is under way go together in the next call.
		expect((await calls()) - before).toBe(2);
		for (const r of records) await expect(auditTrail(node.broker, { type: "http.request", correlationId: r.correlationId })).resolves.toMatchObject({ total: 1 });
	});

	it("answers each record of a call on its own: stored, or stored already", async () => {
		const [first, second] = [record(randomUUID()), record(randomUUID())];
		await node.broker.call("audit.recordRequests", { records: [first] });
		const answers = (await node.broker.call("audit.recordRequests", { records: [first, second] })) as RecordAnswer[];
		expect(answers).toEqual([{ stored: false }, { stored: true }]);
		await expect(auditTrail(node.broker, { type: "http.request", correlationId: first.correlationId })).resolves.toMatchObject({ total: 1 });
	});

	it("sends records one by one to an audit from before recordRequests (a rolling upgrade)", async () => {
		const received: RequestRecord[] = [];
		const olderAudit: ServiceSchema = { name: "audit", actions: { recordRequest: (ctx: Context<RequestRecord>) => (received.push(ctx.params), { stored: true }) } };
		const gateway = await startNode({ DATABASE_URL: db.url, SERVICES: "api" }, [olderAudit]);
		try {
			const records = Array.from({ length: 3 }, () => record(randomUUID()));
			await Promise.all(records.map(r => storeRecord(gateway.broker, r, undefined)));
			expect(received.map(r => r.id).sort()).toEqual(records.map(r => r.id).sort());
		} finally {
			await gateway.stop();
		}
	});
});
