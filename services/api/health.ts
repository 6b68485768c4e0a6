/**
 * Liveness and readiness. Ready means every service's database answers and the transporter
 * is connected; a Redis outage is reported but does not make the node unready: reads then
 * go to the databases.
 */
import type { Context, ServiceBroker } from "moleculer";
import { isDraining } from "../../config/broker-config";
import { ALL_SERVICES } from "../../config/env";
import { kafkaEnabled, kafkaStatus } from "../../lib/kafka";
import { sharedRedis } from "../../lib/cache/capabilities";
import { PUBLIC_SERVICES, type ApiThis } from "./gateway";

/** Services whose database readiness decides the gateway's readiness. */
const DATABASE_SERVICES = ALL_SERVICES.filter(name => name !== "api");

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
 * Whether every public service has its REST routes. moleculer-web builds them 500 ms
 * after the registry changes; a node that is asked earlier builds them now.
 */
export function routesStatus(service: ApiThis): string {
	const missing = () => PUBLIC_SERVICES.filter(name => !service.aliases.some(alias => alias.action?.startsWith(`${name}.`)));
	if (missing().length > 0)
		for (const route of service.routes) if (route.opts.autoAliases) service.regenerateAutoAliases(route);
	const still = missing();
	return still.length === 0 ? "up" : `missing: ${still.join(", ")}`;
}

/** Liveness: the process answers. */
export function live() {
	return { status: "ok" };
}

/** Readiness: 503 names the checks that fail, or says the node is draining. */
export async function ready(this: ApiThis, ctx: Context<unknown, { $statusCode?: number }>) {
	const checks: Record<string, string> = {};
	await Promise.all(
		DATABASE_SERVICES.map(async name => {
			try {
				const result = (await ctx.call(`${name}.checkDatabase`, {}, { timeout: 2000 })) as { status: string };
				checks[`${name}.database`] = result.status;
			} catch (err) {
				checks[`${name}.database`] = `down: ${(err as Error).message}`;
			}
		})
	);
	checks.routes = routesStatus(this);
	const transit = this.broker.transit as { connected?: boolean } | undefined;
	checks.transporter = !transit ? "in-process" : transit.connected ? "up" : "down";
	checks.cacher = await cacherStatus(this.broker);
	if (kafkaEnabled(this.broker)) checks.kafka = await kafkaStatus(this.broker);
	const failing = Object.entries(checks).filter(([name, status]) => name !== "cacher" && !/^(up|in-process)$/.test(status));
	const draining = isDraining(this.broker);
	const isReady = failing.length === 0 && !draining;
	if (!isReady) ctx.meta.$statusCode = 503;
	return { status: draining ? "draining" : isReady ? "ready" : "unavailable", checks };
}
