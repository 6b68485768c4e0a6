import { spawn, type ChildProcess } from "node:child_process";
import Redis from "ioredis";
import { clusterEngines, describeWith } from "../helpers/engines";
import { useCluster } from "../helpers/cluster";
import { freePort } from "../../scripts/cluster-nodes";
import { httpClient } from "../helpers/http";
import { waitFor } from "../helpers/wait";

const engines = clusterEngines();

/** A Redis of this suite's own, so stopping it disturbs nothing else on the machine. */
class OwnRedis {
	private process?: ChildProcess;
	constructor(readonly port: number) {}

	get url() {
		return `redis://127.0.0.1:${this.port}`;
	}

	async start(): Promise<void> {
		this.process = spawn("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
			stdio: "ignore"
		});
		const probe = new Redis({ port: this.port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
		await waitFor(() => probe.connect().then(() => probe.ping(), () => undefined), 5000);
		probe.disconnect();
	}

	/** Freezes it: connections stay open but nothing answers (a stalled or partitioned Redis). */
	pause = () => this.process?.kill("SIGSTOP");
	resume = () => this.process?.kill("SIGCONT");

	async kill(): Promise<void> {
		const exited = new Promise(resolve => this.process?.once("exit", resolve));
		this.process?.kill("SIGKILL");
		await exited;
	}
}

const redis = new OwnRedis(0);

describeWith(engines)("reads while Redis fails", () => {
	jest.setTimeout(120_000);
	// Registered before the cluster's own hooks, so the cluster starts against this Redis.
	beforeAll(async () => {
		(redis as { port: number }).port = await freePort();
		await redis.start();
	}, 30_000);
	afterAll(() => redis.kill());
	const cluster = useCluster(
		() => engines && { nats: engines.nats, redis: redis.url },
		[
			{ name: "gateway", services: "api" },
			{ name: "services", services: "products,inventory,purchases,audit" }
		],
		// These reads are a flood on purpose.
		{ RATE_LIMIT: "0" }
	);
	const request = httpClient(() => cluster.gateways[0]);

	/** Reads the product over and over until `stop` resolves; returns every answer seen (status and name). */
	async function readContinuously(id: string, stop: Promise<unknown>): Promise<{ status: number; name: unknown }[]> {
		const answers: { status: number; name: unknown }[] = [];
		let done = false;
		void stop.then(() => (done = true));
		await Promise.all(
			Array.from({ length: 4 }, async () => {
				while (!done) {
					const { status, body } = await request("GET", `/api/v1/products/${id}`);
					answers.push({ status, name: body.name });
				}
			})
		);
		return answers;
	}

	/** How many answers had each status and name ("200 During": 812). */
	const tally = (answers: { status: number; name: unknown }[]) =>
		answers.reduce<Record<string, number>>((counts, { status, name }) => {
			counts[`${status} ${String(name)}`] = (counts[`${status} ${String(name)}`] ?? 0) + 1;
			return counts;
		}, {});

	/** The name in the products service's own cache entry for the product (Moleculer's key: action, then the id as JSON), read from Redis. */
	async function cachedName(id: string): Promise<string | undefined> {
		const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
		try {
			await client.connect();
			const held = await client.get(`MOL-${cluster.env.NAMESPACE}-products.get:${JSON.stringify(id)}`);
			return held === null ? undefined : (JSON.parse(held) as { name: string }).name;
		} finally {
			client.disconnect();
		}
	}

	/**
	 * Waits until the products service filled its cache entry for the product with `name`,
	 * asking the service itself now and then: a gateway may rightly answer from its near
	 * cache (kept at a version set after the outage) without asking the service at all.
	 */
	const filledWith = (id: string, name: string) =>
		waitFor(async () => {
			await cluster.client.call("products.get", { id });
			return (await cachedName(id)) === name;
		}, 30_000);

	it("answers every read while Redis is killed and restarted, and fills the cache again", async () => {
		const created = await request("POST", "/api/v1/products", { body: { name: "Resilient", price: 1 } });
		const steps = (async () => {
			await new Promise(resolve => setTimeout(resolve, 500));
			await redis.kill();
			await new Promise(resolve => setTimeout(resolve, 1500));
			await redis.start();
			await new Promise(resolve => setTimeout(resolve, 1500));
		})();
		const answers = await readContinuously(created.body.id, steps);
		expect(answers.length).toBeGreaterThan(20);
		expect(tally(answers)).toEqual({ "200 Resilient": answers.length });
		// The restarted Redis started empty: an entry in it is a fill made after the outage.
		await filledWith(created.body.id, "Resilient");
		// The gateway's own Redis client reconnects on its own schedule.
		await waitFor(async () => (await request("GET", "/health/ready")).body.checks?.cacher === "up", 30_000);
	});

	it("never serves what changed while Redis was stalled, and fills the cache with the change afterwards", async () => {
		const created = await request("POST", "/api/v1/products", { body: { name: "Before", price: 1 } });
		const id = created.body.id;
		await filledWith(id, "Before");
		redis.pause();
		try {
			const patched = await request("PATCH", `/api/v1/products/${id}`, { body: { name: "During" } });
			expect(patched.status).toBe(200);
			const read = await request("GET", `/api/v1/products/${id}`);
			expect(read).toMatchObject({ status: 200, body: { name: "During" } });
		} finally {
			redis.resume();
		}
		// Redis held "Before" when it froze; from the resume until the service caches "During"
		// (the cache is in use again), no read may answer "Before".
		const filled = filledWith(id, "During").then(
			() => "filled",
			(err: Error) => err.message
		);
		const answers = await readContinuously(id, filled);
		expect(answers.length).toBeGreaterThan(0);
		expect(tally(answers)).toEqual({ "200 During": answers.length });
		await expect(filled).resolves.toBe("filled");
		await expect(request("GET", `/api/v1/products/${id}`)).resolves.toMatchObject({ status: 200, body: { name: "During" } });
	});
});
