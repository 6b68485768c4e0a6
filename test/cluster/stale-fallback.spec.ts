/**
 * The gateway's stale fallback over NATS: product reads whose service fails (its database
 * away, its node killed) or whose circuit is open are answered from the gateway's last
 * known answer, marked `Warning: 110` and `X-Cache: STALE`; reads it knows no answer to
 * fail as usual, and fresh answers come back once the service does.
 */
import { randomUUID } from "node:crypto";
import { clusterEngines, describeWith, POSTGRES_ENV } from "../helpers/engines";
import { useCluster } from "../helpers/cluster";
import { expectProblem, httpClient, type HttpResponse } from "../helpers/http";
import { startNode, type TestNode } from "../helpers/nodes";
import { TestSession } from "../helpers/postgres";
import { waitFor } from "../helpers/wait";

const engines = clusterEngines();

function expectStale(response: HttpResponse, lastKnown: unknown): void {
	expect(response.status).toBe(200);
	expect(response.headers.get("warning")).toBe('110 - "Response is Stale"');
	expect(response.headers.get("x-cache")).toBe("STALE");
	expect(response.body).toEqual(lastKnown);
}

describeWith(engines)("the gateway's last known product answers while the products service fails", () => {
	jest.setTimeout(180_000);
	const cluster = useCluster(
		() => engines,
		[
			{ name: "products", services: "products" },
			{ name: "others", services: "inventory,purchases,audit" }
		],
		{ RATE_LIMIT: "0" }
	);
	// A gateway in this process, so its circuit breaker can be watched.
	let gateway: TestNode;
	const opened: string[] = [];
	const request = httpClient(() => gateway.baseUrl!);

	beforeAll(async () => {
		if (!engines) return;
		// Quiet by default: every stale answer is logged as a warning.
		gateway = await startNode({ ...cluster.env, SERVICES: "api", NODE_ID: "gateway", LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "error" });
		gateway.broker.localBus.on("$circuit-breaker.opened", (payload: { action: string }) => opened.push(payload.action));
		await waitFor(async () => (await request("GET", "/health/ready")).status === 200, 30_000);
	}, 60_000);
	afterAll(() => gateway?.stop());

	/** Refuses (or allows again) every connection to the cluster's database, ending those open now. */
	async function databaseReachable(reachable: boolean): Promise<void> {
		const name = new URL(cluster.env.DATABASE_URL).pathname.slice(1);
		if (!/^pi_test_[0-9a-f]{12}$/.test(name)) throw new Error(`refusing to touch ${name}`);
		// From the server's own test database: the suite's database is the one refusing.
		const admin = await TestSession.open(process.env[POSTGRES_ENV]!);
		try {
			await admin.rows(`ALTER DATABASE ${name} ALLOW_CONNECTIONS ${reachable}`);
			if (!reachable) await admin.rows("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [name]);
		} finally {
			await admin.close();
		}
	}

	/** A product read through the gateway (so it knows the answers), then changed: what the gateway knows is now outdated. */
	async function knownThenChanged(name: string) {
		const category = `stale-${randomUUID()}`;
		const created = await request("POST", "/api/v1/products", { body: { name, price: 3, category } });
		expect(created.status).toBe(201);
		const path = `/api/v1/products/${created.body.id}`;
		const listPath = `/api/v1/products?category=${category}`;
		const known = await request("GET", path);
		const knownList = await request("GET", listPath);
		expect(known).toMatchObject({ status: 200, body: { name } });
		expect(knownList).toMatchObject({ status: 200, body: { total: 1 } });
		expect(known.headers.get("x-cache")).toBeNull();
		await expect(request("PATCH", path, { body: { name: `${name}, changed` } })).resolves.toMatchObject({ status: 200 });
		return { path, listPath, known: known.body, knownList: knownList.body, changed: `${name}, changed` };
	}

	/** Waits until the gateway answers the product fresh (not stale) with `name` again. */
	const freshAgain = (path: string, name: string) =>
		waitFor(async () => {
			const read = await request("GET", path);
			return read.status === 200 && read.headers.get("x-cache") === null && read.body.name === name;
		}, 60_000);

	it("answers from the last known answer while the products database is away, also once the circuit is open", async () => {
		const product = await knownThenChanged("Before the outage");
		await databaseReachable(false);
		try {
			// The service fails: the read reaches it and its database refuses.
			expectStale(await request("GET", product.path), product.known);
			expectStale(await request("GET", product.listPath), product.knownList);
			// Reads the gateway knows no answer to fail, and open the circuit.
			const unknown = await Promise.all(Array.from({ length: 25 }, () => request("GET", `/api/v1/products/${randomUUID()}`)));
			for (const read of unknown) {
				expect(read.status).toBeGreaterThanOrEqual(500);
				expect(read.headers.get("x-cache")).toBeNull();
			}
			await waitFor(() => opened.includes("products.get"));
			// The circuit refuses at the gateway: still the last known answer.
			expectStale(await request("GET", product.path), product.known);
		} finally {
			await databaseReachable(true);
		}
		await freshAgain(product.path, product.changed);
	});

	it("answers from the last known answer once the products node is killed, and fresh answers once it is back", async () => {
		const product = await knownThenChanged("Before the crash");
		await cluster.nodes.get("products")!.stop("SIGKILL");
		// Whether the read times out on the dead node or finds no node at all.
		expectStale(await request("GET", product.path), product.known);
		await waitFor(() => gateway.broker.registry.nodes.get("products")?.available === false);
		expectStale(await request("GET", product.path), product.known);
		expectStale(await request("GET", product.listPath), product.knownList);
		expectProblem(await request("GET", `/api/v1/products/${randomUUID()}`), 503, "SERVICE_NOT_AVAILABLE");
		await cluster.add({ name: "products", services: "products" });
		await freshAgain(product.path, product.changed);
	});
});
