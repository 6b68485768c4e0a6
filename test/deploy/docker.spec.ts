/**
 * The image built from the unmodified Dockerfile, running the roles of the real
 * docker-compose.yml in containers (scripts/docker.sh's engine, host networking only) over
 * the host's NATS, Redis and PostgreSQL: healthy by the image's own HEALTHCHECK, one cluster,
 * the README's purchase flow through a gateway container, a `docker stop` that drains and
 * loses nothing, and a non-root user.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceBroker } from "moleculer";
import { clusterEngines, describeWith } from "../helpers/engines";
import { createTestDatabase, type TestDatabase } from "../helpers/databases";
import { composeVariant, dockerWanted, DOCKER_IMAGE_ENV, run, type RoleReplica } from "../helpers/docker";
import { httpClient, type HttpResponse } from "../helpers/http";
import { catalog } from "../helpers/catalog";
import { TEST_API_KEY } from "../helpers/nodes";
import { waitFor } from "../helpers/wait";
import { freePort } from "../../scripts/cluster-nodes";
import { takingTurns } from "../helpers/taking-turns";

const engines = dockerWanted() ? clusterEngines() : undefined;
const image = process.env[DOCKER_IMAGE_ENV] ?? "product-inventory:test";
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** `count` TCP ports nobody listens on, all different. */
async function freePorts(count: number): Promise<number[]> {
	const ports = new Set<number>();
	while (ports.size < count) ports.add(await freePort());
	return [...ports];
}

describeWith(engines)("the image, running the compose file's roles in Docker", () => {
	takingTurns();
	jest.setTimeout(240_000);
	const project = `pi${randomBytes(4).toString("hex")}`;
	const namespace = `docker-${project}`;
	let dir: string;
	let file: string;
	let db: TestDatabase | undefined;
	let client: ServiceBroker | undefined;
	let replicas: RoleReplica[] = [];
	let drainSeconds = 0;
	const containers = new Map<string, string>();

	const compose = (...args: string[]) => run("docker-compose", ["-p", project, "-f", file, ...args], 240_000);
	const docker = (...args: string[]) => run("docker", args);
	const replica = (name: string) => replicas.find(r => r.name === name)!;
	const gateways = () => replicas.filter(r => r.role === "api");
	const via = (name: string) => httpClient(() => `http://127.0.0.1:${replica(name).port}`);
	const readiness = (port: number) =>
		fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(2000) }).then(
			async response => ({ status: response.status, body: (await response.json()) as { status: string } }),
			() => ({ status: 0, body: { status: "no answer" } })
		);
	const health = (id: string) => docker("inspect", "--format", "{{.State.Health.Status}}", id);
	const logsOf = async (name: string) => (await docker("logs", "--tail", "15", containers.get(name)!).catch(err => String(err))).slice(-3000);

	beforeAll(async () => {
		await docker("image", "inspect", image).catch(() => {
			throw new Error(`no image ${image}: build it with \`bash scripts/docker.sh build\``);
		});
		db = await createTestDatabase("postgres");
		const variant = composeVariant({
			image,
			ports: await freePorts(48),
			env: {
				NAMESPACE: namespace,
				TRANSPORTER: engines!.nats,
				CACHER: engines!.redis,
				DATABASE_URL: db.url,
				API_KEYS: `tester:${TEST_API_KEY}`,
				// No Kafka bridge or search index here: the suites of test/integration have those.
				KAFKA_BROKERS: "",
				ELASTICSEARCH_URL: ""
			}
		});
		replicas = variant.replicas;
		drainSeconds = Number((variant.compose.services as Record<string, { environment: Record<string, string> }>)["api-1"].environment.DRAIN_SECONDS);
		dir = mkdtempSync(join(tmpdir(), "pi-docker-"));
		file = join(dir, "docker-compose.test.yml");
		// JSON is YAML too (indented with spaces: YAML takes no tabs) and leaves no value to YAML 1.1's
		// reading in docker-compose (an unquoted `no` is false there).
		writeFileSync(file, JSON.stringify(variant.compose, null, 2));
		client = new ServiceBroker({
			namespace,
			nodeID: `test-client-${namespace}`,
			transporter: engines!.nats as "NATS",
			heartbeatInterval: 2,
			heartbeatTimeout: 6,
			requestTimeout: 10_000,
			logger: false
		});
		await client.start();
		await compose("up", "-d", "--no-build");
		for (const { name } of replicas) containers.set(name, await compose("ps", "-q", name));
	}, 240_000);

	afterAll(async () => {
		if (file) await compose("down", "--volumes", "--timeout", "10").catch(err => console.error(String(err)));
		await client?.stop();
		await db?.drop();
		if (dir) rmSync(dir, { recursive: true, force: true });
	}, 120_000);

	it("runs every replica of every role as a container that the image's HEALTHCHECK reports healthy", async () => {
		expect(new Set(replicas.map(r => r.role))).toEqual(new Set(["api", "products", "inventory", "purchases", "audit"]));
		expect(replicas.length).toBeGreaterThanOrEqual(9);
		for (const { name } of replicas) {
			// Until it leaves "starting": "unhealthy" is an answer too.
			const status = await waitFor(async () => {
				const now = await health(containers.get(name)!);
				return now !== "starting" && now;
			}, 120_000);
			if (status !== "healthy") throw new Error(`${name} is ${status}; its last lines:\n${await logsOf(name)}`);
		}
	});

	it("runs as the image's non-root user", async () => {
		expect(await docker("image", "inspect", "--format", "{{.Config.User}}", image)).toBe("10001:10001");
		expect(await docker("exec", containers.get("api-1")!, "id", "-u")).toBe("10001");
	});

	it("joins every replica into one cluster: a client of the namespace sees every node, each gateway is ready", async () => {
		await waitFor(() => replicas.every(r => client!.registry.nodes.get(r.name)?.available), 60_000);
		for (const gateway of gateways()) await expect(via(gateway.name)("GET", "/health/ready")).resolves.toMatchObject({ status: 200, body: { status: "ready" } });
	});

	it("takes the README's purchase flow through a gateway container: buy with an Idempotency-Key, confirm, complete", async () => {
		const api = via("api-1");
		const created = await api("POST", "/api/v1/products", { body: { name: `Notebook ${randomUUID().slice(0, 8)}`, price: 3.5, stock: 20 } });
		expect(created.status).toBe(201);
		const productId = created.body.id as string;
		await waitFor(async () => (await via("api-2")("GET", `/api/v1/inventory/${productId}`)).status === 200);
		const order = { body: { items: [{ productId, quantity: 3 }], customerId: "c-42" }, headers: { "Idempotency-Key": `order-${randomUUID()}` } };
		const bought = await api("POST", "/api/v1/purchases", order);
		expect(bought).toMatchObject({ status: 201, body: { status: "PENDING", total: 10.5, items: [{ quantity: 3, unitPrice: 3.5, lineTotal: 10.5 }] } });
		await expect(api("POST", "/api/v1/purchases", order)).resolves.toMatchObject({ status: 201, body: { id: bought.body.id } });
		await expect(api("GET", `/api/v1/inventory/${productId}`)).resolves.toMatchObject({ body: { onHand: 20, reserved: 3, available: 17 } });
		await expect(api("POST", `/api/v1/purchases/${bought.body.id}/confirm`)).resolves.toMatchObject({ status: 200, body: { status: "CONFIRMED" } });
		await expect(api("POST", `/api/v1/purchases/${bought.body.id}/complete`)).resolves.toMatchObject({ status: 200, body: { status: "COMPLETED" } });
		await expect(api("POST", `/api/v1/purchases/${bought.body.id}/confirm`)).resolves.toMatchObject({ status: 409, body: { code: "INVALID_TRANSITION" } });
		await waitFor(async () => {
			const stock = (await api("GET", `/api/v1/inventory/${productId}`)).body;
			return stock.onHand === 17 && stock.reserved === 0;
		});
		await catalog(() => client!).expectConsistent(productId);
	});

	it("drains a gateway and a purchases node stopped with `docker stop` (readiness 503 for DRAIN_SECONDS, exit 0) and loses no purchase sent meanwhile", async () => {
		expect(drainSeconds).toBeGreaterThan(0);
		const created = await via("api-2")("POST", "/api/v1/products", { body: { name: `Drain ${randomUUID().slice(0, 8)}`, price: 1, stock: 100_000 } });
		const productId = created.body.id as string;
		await waitFor(async () => (await via("api-1")("GET", `/api/v1/inventory/${productId}`)).status === 200);

		// A load balancer's view: a gateway gets requests while its readiness answers 200.
		const stopping = ["api-1", "purchases-1"];
		const seen = new Map<string, Set<string>>(stopping.map(name => [name, new Set()]));
		const inRotation = new Set(gateways().map(g => g.name));
		let done = false;
		const probes = (async () => {
			while (!done) {
				for (const gateway of gateways()) {
					const answer = await readiness(gateway.port);
					if (answer.status === 200) inRotation.add(gateway.name);
					else inRotation.delete(gateway.name);
				}
				for (const name of stopping) {
					const answer = await readiness(replica(name).healthPort);
					seen.get(name)!.add(`${answer.status} ${answer.body.status}`);
				}
				await sleep(100);
			}
		})();
		const answers: Promise<HttpResponse & { gateway: string }>[] = [];
		const load = (async () => {
			for (let i = 0; !done; i++) {
				const gateway = [...inRotation][i % Math.max(1, inRotation.size)] ?? "api-2";
				const headers = { "Idempotency-Key": `drain-${i}-${randomUUID()}` };
				answers.push(via(gateway)("POST", "/api/v1/purchases", { body: { items: [{ productId, quantity: 1 }] }, headers }).then(
					response => ({ ...response, gateway }),
					(err: Error) => ({ status: 0, headers: new Headers(), body: err.message, gateway })
				));
				await sleep(50);
			}
		})();

		await sleep(1000);
		const signalled = Date.now();
		await Promise.all(stopping.map(name => docker("stop", "--time", "30", containers.get(name)!)));
		const stoppedAfter = Date.now() - signalled;
		await sleep(1000);
		done = true;
		await Promise.all([probes, load]);
		const settled = await Promise.all(answers);

		expect(settled.filter(a => a.status !== 201).map(a => `${a.gateway}: ${a.status} ${a.body?.code ?? a.body}`)).toEqual([]);
		expect(settled.length).toBeGreaterThan(40);
		for (const name of stopping) {
			expect([...seen.get(name)!]).toEqual(expect.arrayContaining(["200 ready", "503 draining"]));
			expect(await docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", containers.get(name)!)).toBe("exited 0");
		}
		expect(stoppedAfter).toBeGreaterThanOrEqual(drainSeconds * 1000);

		await waitFor(() => client!.registry.nodes.get("purchases-1")?.available === false, 30_000);
		const stock = await catalog(() => client!).expectConsistent(productId);
		const answered = settled.map(a => a.body.id as string).sort();
		expect([...(await catalog(() => client!).pendingPurchasesOf(productId)).keys()].sort()).toEqual(answered);
		expect(stock.reserved).toBe(answered.length);
	});
});
