/**
 * Whether a node can take work: the databases of the services asked about answer, the
 * transporter is connected and Kafka (when used) is reachable. A Redis outage is reported
 * but does not make the node unready: reads then go to the databases. A draining node is
 * not ready. The gateway asks about every service of the cluster; a node's own health port
 * (lib/health-server.ts) about the services it runs.
 */
import type { ServiceBroker } from "moleculer";
import { isDraining } from "../config/broker-config";
import { kafkaEnabled, kafkaStatus } from "./kafka";
import { sharedRedis } from "./cache/capabilities";

export interface Readiness {
	status: "ready" | "unavailable" | "draining";
	checks: Record<string, string>;
}

async function cacherStatus(broker: ServiceBroker): Promise<string> {
	const redis = sharedRedis(broker.cacher);
	if (!redis) return broker.cacher ? "in-memory" : "none";
	try {
		await redis.ping();
		return "up";
	} catch (err) {
		return `down (reads go to the databases): ${(err as Error).message}`;
	}
}

/**
 * The checks of `services`' databases (on this node only when `local`), of the transporter,
 * cacher and Kafka, plus `extra` ones; ready when every check but the cacher's is up.
 */
export async function readiness(broker: ServiceBroker, services: string[], options: { local?: boolean; extra?: Record<string, string> } = {}): Promise<Readiness> {
	const checks: Record<string, string> = {};
	await Promise.all(
		services.map(async name => {
			try {
				const result = (await broker.call(`${name}.checkDatabase`, {}, { timeout: 2000, ...(options.local ? { nodeID: broker.nodeID } : {}) })) as { status: string };
				checks[`${name}.database`] = result.status;
			} catch (err) {
				checks[`${name}.database`] = `down: ${(err as Error).message}`;
			}
		})
	);
	Object.assign(checks, options.extra);
	const transit = broker.transit as { connected?: boolean } | undefined;
	checks.transporter = !transit ? "in-process" : transit.connected ? "up" : "down";
	checks.cacher = await cacherStatus(broker);
	if (kafkaEnabled(broker)) checks.kafka = await kafkaStatus(broker);
	const failing = Object.entries(checks).filter(([name, status]) => name !== "cacher" && !/^(up|in-process)$/.test(status));
	const draining = isDraining(broker);
	return { status: draining ? "draining" : failing.length === 0 ? "ready" : "unavailable", checks };
}
