/**
 * `npm run cluster`: a local multi-node cluster without Docker, against the local NATS,
 * Redis and PostgreSQL: two gateways (ports 3000 and 3001) and two nodes each of
 * products, inventory and purchases, plus audit, each its own process. Ctrl-C stops
 * them all gracefully.
 *
 * Settings (env): TRANSPORTER (nats://127.0.0.1:4222), CACHER (redis://127.0.0.1:6379),
 * DATABASE_URL (postgres://postgres@127.0.0.1:5432/product_inventory, created if
 * missing), NAMESPACE (local), API_KEYS, PORT (first gateway port, 3000).
 */
import { Client } from "pg";
import { defaultTopology, spawnNode, waitReady, type RunningNode } from "./cluster-nodes";

async function ensureDatabase(url: string): Promise<void> {
	const target = new URL(url);
	const name = target.pathname.slice(1);
	if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`DATABASE_URL: unexpected database name "${name}"`);
	const admin = new URL(url);
	admin.pathname = "/postgres";
	const client = new Client({ connectionString: admin.toString() });
	await client.connect();
	try {
		const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
		if (rowCount === 0) await client.query(`CREATE DATABASE ${name}`);
	} finally {
		await client.end();
	}
}

async function main(): Promise<void> {
	const common = {
		TRANSPORTER: process.env.TRANSPORTER ?? "nats://127.0.0.1:4222",
		CACHER: process.env.CACHER ?? "redis://127.0.0.1:6379",
		DATABASE_URL: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/product_inventory",
		NAMESPACE: process.env.NAMESPACE ?? "local",
		METRICS_PORT: "0",
		LOG_LEVEL: process.env.LOG_LEVEL ?? "info"
	};
	await ensureDatabase(common.DATABASE_URL);
	const topology = defaultTopology(Number(process.env.PORT ?? 3000));
	const nodes: RunningNode[] = topology.map(spec => spawnNode(spec, common, true));

	let stopping = false;
	const stopAll = async () => {
		if (stopping) return;
		stopping = true;
		console.error("\nStopping the cluster...");
		await Promise.all(nodes.map(node => node.stop("SIGTERM")));
		process.exit(0);
	};
	process.on("SIGINT", () => void stopAll());
	process.on("SIGTERM", () => void stopAll());
	for (const node of nodes)
		void node.exited.then(code => {
			if (!stopping) console.error(`${node.spec.name} exited with ${code}`);
		});

	const gateways = topology.filter(spec => spec.port !== undefined);
	await Promise.all(gateways.map(spec => waitReady(spec.port!)));
	console.error(
		`\nCluster ready: ${nodes.length} nodes in namespace "${common.NAMESPACE}", gateways on ${gateways.map(g => `http://localhost:${g.port}`).join(" and ")}. Ctrl-C stops it.\n`
	);
}

main().catch(err => {
	console.error("Cluster failed to start:", err.message);
	process.exit(1);
});
