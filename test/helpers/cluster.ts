/**
 * A cluster of real node processes over the real NATS, Redis and PostgreSQL, for the
 * cluster suites: each suite gets its own namespace and database, plus a client broker
 * in the same namespace to call actions directly.
 */
import { randomBytes } from "node:crypto";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { ServiceBroker } from "moleculer";
import { freePort, spawnNode, waitReady, type NodeSpec, type RunningNode } from "../../scripts/cluster-nodes";
import { createTestDatabase, type TestDatabase } from "./databases";
import { TEST_API_KEY } from "./nodes";
import { waitFor } from "./wait";

export interface Cluster {
	nodes: Map<string, RunningNode>;
	/** Base URLs of the gateways, in topology order. */
	gateways: string[];
	client: ServiceBroker;
	env: Record<string, string>;
	/** Starts one more node of the cluster (or a killed one again). */
	add(spec: NodeSpec): Promise<RunningNode>;
}

export interface ClusterEngines {
	nats: string;
	redis: string;
}

/** Starts the topology before the suite (gateways get free ports) and stops it after. */
export function useCluster(engines: () => ClusterEngines | undefined, topology: NodeSpec[], env: Record<string, string> = {}): Cluster {
	const cluster = { nodes: new Map(), gateways: [] } as unknown as Cluster;
	let db: TestDatabase | undefined;

	beforeAll(async () => {
		const found = engines();
		if (!found) return;
		db = await createTestDatabase("postgres");
		const namespace = `t${randomBytes(4).toString("hex")}`;
		cluster.env = {
			TRANSPORTER: found.nats,
			CACHER: found.redis,
			DATABASE_URL: db.url,
			NAMESPACE: namespace,
			API_KEYS: `tester:${TEST_API_KEY}`,
			METRICS_PORT: "0",
			LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
			DRAIN_SECONDS: "0",
			NODE_ENV: "test",
			...env
		};
		cluster.add = async spec => {
			const node = spawnNode(spec, cluster.env, process.env.TEST_LOG_LEVEL !== undefined);
			cluster.nodes.set(spec.name, node);
			if (spec.port) await waitReady(spec.port, 90_000);
			else await waitFor(() => cluster.client.registry.nodes.get(spec.name)?.available === true, 90_000);
			return node;
		};
		const specs: NodeSpec[] = [];
		for (const spec of topology) specs.push(spec.services.includes("api") ? { ...spec, port: await freePort() } : spec);
		cluster.gateways = specs.filter(s => s.port).map(s => `http://127.0.0.1:${s.port}`);
		cluster.client = new ServiceBroker({
			namespace,
			nodeID: `test-client-${namespace}`,
			transporter: found.nats as "NATS",
			heartbeatInterval: 2,
			heartbeatTimeout: 6,
			logger: false
		});
		await cluster.client.start();
		await Promise.all(specs.map(spec => cluster.add(spec)));
		await cluster.client.waitForServices(["products", "inventory", "purchases", "audit"], 30_000);
	}, 180_000);

	afterAll(async () => {
		await Promise.all([...cluster.nodes.values()].map(node => node.stop("SIGTERM")));
		await cluster.client?.stop();
		await db?.drop();
	}, 60_000);

	return cluster;
}

/**
 * A metric of a node started with a METRICS_PORT, from its Prometheus endpoint: the sum
 * over the series whose labels include `labels` (`moleculer_request_active`,
 * `{ action: "purchases.create" }`).
 */
export async function metricOf(node: RunningNode, name: string, labels: Record<string, string> = {}): Promise<number> {
	const port = node.spec.env?.METRICS_PORT;
	if (!port || port === "0") throw new Error(`${node.spec.name} was started without a METRICS_PORT`);
	const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
	let sum = 0;
	for (const line of text.split("\n")) {
		const series = /^([\w:]+)(?:\{(.*)\})? (\S+)/.exec(line);
		if (series?.[1] !== name) continue;
		if (Object.entries(labels).every(([label, value]) => (series[2] ?? "").includes(`${label}="${value}"`))) sum += Number(series[3]);
	}
	return sum;
}

/**
 * A TCP path to a server (a node's link to Redis, say) that can be made slow: while
 * `delayMs` is set, every byte from the client reaches the server that much later, in
 * order. A slow network path of one node, nothing faked about the server behind it.
 */
export class SlowLink {
	delayMs = 0;
	private server?: Server;
	private readonly sockets = new Set<Socket>();

	/** Listens on a free local port in front of `target` (a URL); returns the same URL pointing at the link. */
	async start(target: string): Promise<string> {
		const { hostname, port } = new URL(target);
		this.server = createServer(client => {
			const upstream = connect(Number(port), hostname);
			let released = Promise.resolve();
			client.on("data", chunk => {
				const at = Date.now() + this.delayMs;
				released = released.then(async () => {
					const left = at - Date.now();
					if (left > 0) await new Promise(resolve => setTimeout(resolve, left));
					upstream.write(chunk);
				});
			});
			upstream.pipe(client);
			for (const [socket, other] of [
				[client, upstream],
				[upstream, client]
			]) {
				this.sockets.add(socket);
				socket.on("error", () => other.destroy());
				socket.on("close", () => {
					this.sockets.delete(socket);
					other.destroy();
				});
			}
		});
		await new Promise<void>(resolve => this.server!.listen(0, "127.0.0.1", resolve));
		const url = new URL(target);
		url.hostname = "127.0.0.1";
		url.port = String((this.server!.address() as AddressInfo).port);
		return url.toString();
	}

	async stop(): Promise<void> {
		for (const socket of this.sockets) socket.destroy();
		await new Promise(resolve => this.server?.close(resolve) ?? resolve(undefined));
	}
}
