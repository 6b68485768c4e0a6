/**
 * Nodes SIGKILLed under load cost no request: the gateways and services notice a dead node
 * within about a second and send what it had in flight, with its idempotency key, to another
 * node. Clients never retry here; every answer they got is the whole story.
 */
import { randomUUID } from "node:crypto";
import { clusterEngines, describeWith } from "../helpers/engines";
import { useCluster } from "../helpers/cluster";
import { httpClient, type HttpResponse } from "../helpers/http";
import { catalog } from "../helpers/catalog";
import { auditTrail, requestRecord } from "../helpers/audit";
import { waitFor } from "../helpers/wait";
import { defaultTopology, freePort } from "../../scripts/cluster-nodes";
import { takingTurns } from "../helpers/taking-turns";
import { scrapedMetric } from "../helpers/metrics";

const engines = clusterEngines();

/** A request's answer, or status 0 when it got none (the connection failed). */
type Answer = HttpResponse & { sentAt: number };

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

describeWith(engines)("a node that dies under load, in a cluster of nine nodes", () => {
	takingTurns();
	jest.setTimeout(240_000);
	const topology = defaultTopology();
	/** The callers whose failover the first test reads: the gateways (of purchases) and the purchases nodes (of inventory). */
	const callers = ["gateway-1", "gateway-2", "purchases-1", "purchases-2"];
	// Runs before useCluster's own beforeAll, which starts the topology as it is then.
	beforeAll(async () => {
		for (const spec of topology) if (callers.includes(spec.name)) spec.env = { ...spec.env, METRICS_PORT: String(await freePort()) };
	});
	const cluster = useCluster(() => engines, topology);
	const callerMetric = (names: string[], metric: string, labels: Record<string, string> = {}) =>
		Promise.all(names.map(name => scrapedMetric(cluster.nodes.get(name)!, metric, labels))).then(values => values.reduce((sum, v) => sum + v, 0));
	const via = (gateway: number) => httpClient(() => cluster.gateways[gateway]);
	const held = catalog(() => cluster.client);

	async function productWithStock(stock: number) {
		const created = await via(0)("POST", "/api/v1/products", { body: { name: `Failover ${randomUUID().slice(0, 8)}`, price: 1.25, stock } });
		if (created.status !== 201) throw new Error(`creating a product answered ${created.status}: ${JSON.stringify(created.body)}`);
		await waitFor(async () => (await via(1)("GET", `/api/v1/inventory/${created.body.id}`)).status === 200);
		return created.body.id as string;
	}

	/** Sends `count` requests, one every `everyMs`, alternating gateways, never retried; each answer with when it was sent. */
	async function paced(count: number, everyMs: number, send: (i: number, gateway: ReturnType<typeof via>) => Promise<HttpResponse>, during: { atMs: number; run: () => Promise<unknown> }[]) {
		const started = Date.now();
		const answers: Promise<Answer>[] = [];
		const actions = during.map(async ({ atMs, run }) => {
			await sleep(atMs);
			await run();
		});
		for (let i = 0; i < count; i++) {
			const due = started + i * everyMs;
			if (due > Date.now()) await sleep(due - Date.now());
			const sentAt = Date.now() - started;
			answers.push(send(i, via(i % 2)).then(
				response => ({ ...response, sentAt }),
				(err: Error) => ({ status: 0, headers: new Headers(), body: err.message, sentAt })
			));
		}
		await Promise.all(actions);
		return Promise.all(answers);
	}

	const failures = (answers: Answer[], ok: (status: number) => boolean) =>
		answers.filter(a => !ok(a.status)).map(a => `${a.sentAt} ms: ${a.status} ${a.body?.code ?? ""} ${a.body?.detail ?? a.body}`);

	it("answers 1,000 purchases with 201 while a purchases node and then an inventory node are SIGKILLed, holding exactly the units answered", async () => {
		const products = [await productWithStock(100_000), await productWithStock(100_000)];
		const gateways = ["gateway-1", "gateway-2"];
		// Exported at zero from the start, so the first resend shows in rate().
		await expect(callerMetric(gateways, "node_watch_nodes_removed_total")).resolves.toBe(0);
		await expect(callerMetric(gateways, "failover_resent_calls_total", { action: "purchases.create", reason: "node_lost" })).resolves.toBe(0);
		const kill = (name: string) => () => cluster.nodes.get(name)!.stop("SIGKILL");
		// Half with the client's own key, half with none (the gateway gives those one).
		const answers = await paced(
			1000,
			10,
			(i, gateway) =>
				gateway("POST", "/api/v1/purchases", {
					body: { items: [{ productId: products[i % 2], quantity: 1 + (i % 3) }] },
					headers: i % 4 < 2 ? { "Idempotency-Key": `failover-${i}-${randomUUID()}` } : {}
				}),
			[
				{ atMs: 3000, run: kill("purchases-1") },
				{ atMs: 6000, run: kill("inventory-1") }
			]
		);
		const failed = failures(answers, status => status === 201);
		expect(failed.filter(f => !/^\d+ ms: [1-4]\d\d /.test(f))).toEqual([]); // no 5xx, no lost connection
		expect(failed.length).toBeLessThanOrEqual(1); // at least 99.9 % answered 201

		// The gateways took purchases-1 out and sent what it held to purchases-2; purchases-2 did the same with inventory-1.
		await expect(callerMetric(gateways, "node_watch_nodes_removed_total")).resolves.toBeGreaterThanOrEqual(1);
		await expect(callerMetric(gateways, "failover_resent_calls_total", { action: "purchases.create", reason: "node_lost" })).resolves.toBeGreaterThanOrEqual(1);
		await expect(callerMetric(["purchases-2"], "node_watch_nodes_removed_total")).resolves.toBeGreaterThanOrEqual(1);
		await expect(callerMetric(["purchases-2"], "failover_resent_calls_total", { action: "inventory.reserve", reason: "node_lost" })).resolves.toBeGreaterThanOrEqual(1);

		// What is held is what the clients were told they have, nothing more. (The test's own
		// client is a plain broker: it reads once its heartbeats have told it who died.)
		for (const name of ["purchases-1", "inventory-1"]) await waitFor(() => cluster.client.registry.nodes.get(name)?.available === false, 30_000);
		for (const productId of products) {
			const answered = new Map(
				answers.filter(a => a.status === 201 && a.body.items[0].productId === productId).map(a => [a.body.id as string, a.body.items[0].quantity as number])
			);
			const stock = await held.expectConsistent(productId);
			const pending = await held.pendingPurchasesOf(productId);
			expect([...pending.keys()].sort()).toEqual([...answered.keys()].sort());
			expect(stock.reserved).toBe([...answered.values()].reduce((sum, units) => sum + units, 0));
		}
		await cluster.add(cluster.nodes.get("purchases-1")!.spec);
		await cluster.add(cluster.nodes.get("inventory-1")!.spec);
	});

	it("sells exactly 50 units to 300 buyers over a second and a half while a purchases node is SIGKILLed: 50 answered 201, the rest 409", async () => {
		const productId = await productWithStock(50);
		const answers = await paced(
			300,
			5,
			(_, gateway) => gateway("POST", "/api/v1/purchases", { body: { items: [{ productId, quantity: 1 }] } }),
			[{ atMs: 300, run: () => cluster.nodes.get("purchases-2")!.stop("SIGKILL") }]
		);
		expect(failures(answers, status => status === 201 || status === 409)).toEqual([]);
		expect(answers.filter(a => a.status === 201)).toHaveLength(50);
		await waitFor(() => cluster.client.registry.nodes.get("purchases-2")?.available === false, 30_000);
		const stock = await held.expectConsistent(productId);
		expect(stock).toMatchObject({ onHand: 50, reserved: 50 });
		expect((await held.pendingPurchasesOf(productId)).size).toBe(50);
		await cluster.add(cluster.nodes.get("purchases-2")!.spec);
	});

	it("answers cached and uncached product reads without a 5xx while a products node is SIGKILLed", async () => {
		const ids = [await productWithStock(1), await productWithStock(1)];
		const answers = await paced(
			600,
			10,
			// Odd requests search for a word nobody cached yet, so they reach a products node.
			(i, gateway) => gateway("GET", i % 2 === 0 ? `/api/v1/products/${ids[i % 4 === 0 ? 0 : 1]}` : `/api/v1/products?q=failover${i}`),
			[{ atMs: 2000, run: () => cluster.nodes.get("products-1")!.stop("SIGKILL") }]
		);
		expect(failures(answers, status => status === 200)).toEqual([]);
		await cluster.add(cluster.nodes.get("products-1")!.spec);
	});

	it("stores every request record and event of writes made while the audit node is SIGKILLed and started again", async () => {
		const productId = await productWithStock(1000);
		const audit = cluster.nodes.get("audit-1")!;
		const requestIds: string[] = [];
		const answers = await paced(
			200,
			25,
			(i, gateway) => {
				const requestId = `audited-${i}-${randomUUID()}`;
				requestIds.push(requestId);
				return gateway("POST", "/api/v1/purchases", { body: { items: [{ productId, quantity: 1 }] }, headers: { "X-Request-ID": requestId } });
			},
			[
				{ atMs: 1000, run: () => audit.stop("SIGKILL") },
				{ atMs: 2000, run: () => cluster.add(audit.spec) }
			]
		);
		expect(failures(answers, status => status === 201)).toEqual([]);
		await waitFor(() => cluster.client.registry.nodes.get("audit-1")?.available, 60_000);
		// Every purchase's created event and every request's record reach the restarted node's store, once.
		for (const answer of answers) await expect(auditTrail(cluster.client, { aggregateId: answer.body.id, type: "purchase.created" }, 1, 60_000)).resolves.toMatchObject({ total: 1 });
		for (const requestId of requestIds) await expect(requestRecord(cluster.client, requestId, 60_000)).resolves.toMatchObject({ payload: { status: 201 } });
	});
});
