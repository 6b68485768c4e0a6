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
			// A node started again under its old name is up once the registry knows its new instance.
			const earlier = cluster.client?.registry.nodes.get(spec.name)?.instanceID;
			const node = spawnNode(spec, cluster.env, process.env.TEST_LOG_LEVEL !== undefined);
			cluster.nodes.set(spec.name, node);
			if (spec.port) await waitReady(spec.port, 90_000);
			else
				await waitFor(() => {
					const known = cluster.client.registry.nodes.get(spec.name);
					return known?.available === true && known.instanceID !== earlier;
				}, 90_000);
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
			// A call to a node that just died is lost: it fails instead of hanging the suite.
			requestTimeout: 10_000,
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
 * A TCP path to a server (a node's link to Redis, say) that the test can hold: once armed
 * with `holdFrom(text)`, the first chunk a client sends that names `text` (a key, say) and
 * everything sent after it are kept back, in order, until `release()` passes them on.
 * What was sent before flows as usual, so nothing earlier waits behind the held command.
 * The server behind it is real; only the path stalls, one way, like a congested network.
 */
export class HeldLink {
	private server?: Server;
	private readonly sockets = new Set<Socket>();
	private trigger?: Buffer;
	/** What clients sent since the trigger, with the connection each chunk goes on. */
	private held?: { upstream: Socket; chunk: Buffer }[];

	/** Listens on a free local port in front of `target` (a URL); returns the same URL pointing at the link. */
	async start(target: string): Promise<string> {
		const { hostname, port } = new URL(target);
		this.server = createServer(client => {
			const upstream = connect(Number(port), hostname);
			// The end of what went before, for a trigger split across two chunks.
			let tail = Buffer.alloc(0);
			client.on("data", (chunk: Buffer) => {
				const seen = Buffer.concat([tail, chunk]);
				tail = seen.subarray(Math.max(0, seen.length - 1024));
				if (!this.held && this.trigger && seen.includes(this.trigger)) this.held = [];
				if (this.held) this.held.push({ upstream, chunk });
				else upstream.write(chunk);
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

	/** Holds everything clients send from the first chunk that names `text` (at most 1 KiB long) on. */
	holdFrom(text: string): void {
		this.trigger = Buffer.from(text);
	}

	/** Whether the link is holding back what clients send. */
	get holding(): boolean {
		return this.held !== undefined;
	}

	/** Passes on everything held, in the order it was sent, and lets what follows through. */
	release(): void {
		const held = this.held ?? [];
		this.trigger = undefined;
		this.held = undefined;
		for (const { upstream, chunk } of held) upstream.write(chunk);
	}

	async stop(): Promise<void> {
		this.release();
		for (const socket of this.sockets) socket.destroy();
		await new Promise(resolve => this.server?.close(resolve) ?? resolve(undefined));
	}
}
