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


	/** Reads the product over and over until `stop` resolves; returns every status seen. */
	async function readContinuously(id: string, stop: Promise<unknown>): Promise<number[]> {
		const statuses: number[] = [];
		let done = false;
		void stop.then(() => (done = true));
		await Promise.all(
			Array.from({ length: 4 }, async () => {
				while (!done) statuses.push((await request("GET", `/api/v1/products/${id}`)).status);
			})
		);
		return statuses;
	}

	it("answers every read while Redis is killed and restarted", async () => {
		const created = await request("POST", "/api/v1/products", { body: { name: "Resilient", price: 1 } });
		const steps = (async () => {
			await new Promise(resolve => setTimeout(resolve, 500));
			await redis.kill();
			await new Promise(resolve => setTimeout(resolve, 1500));
			await redis.start();
			await new Promise(resolve => setTimeout(resolve, 1500));
		})();
		const statuses = await readContinuously(created.body.id, steps);
		expect(statuses.length).toBeGreaterThan(20);
		expect(statuses.filter(s => s !== 200)).toEqual([]);
		await waitFor(async () => (await request("GET", "/health/ready")).body.checks.cacher === "up", 10_000);
	});

	it("never serves what changed while Redis was stalled, and uses the cache again afterwards", async () => {
		const created = await request("POST", "/api/v1/products", { body: { name: "Before", price: 1 } });
		const id = created.body.id;
		await request("GET", `/api/v1/products/${id}`); // cached in Redis as "Before"
		redis.pause();
		try {
			const patched = await request("PATCH", `/api/v1/products/${id}`, { body: { name: "During" } });
			expect(patched.status).toBe(200);
			const read = await request("GET", `/api/v1/products/${id}`);
			expect(read).toMatchObject({ status: 200, body: { name: "During" } });
		} finally {
			redis.resume();
		}
		// Redis still holds "Before"; it must never come back.
		const statuses = await readContinuously(id, new Promise(resolve => setTimeout(resolve, 1500)));
		expect(statuses.filter(s => s !== 200)).toEqual([]);
		await expect(request("GET", `/api/v1/products/${id}`)).resolves.toMatchObject({ body: { name: "During" } });
		const client = new Redis(redis.url);
		try {
			await waitFor(async () => (await client.keys("*products.get*")).length > 0, 5000);
		} finally {
			client.disconnect();
		}
	});
});
