/**
 * A cluster of real node processes over the real NATS, Redis and PostgreSQL, for the
 * cluster suites: each suite gets its own namespace and database, plus a client broker
 * in the same namespace to call actions directly.
 */
import { randomBytes } from "node:crypto";
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
