/**
 * What a node's platform is doing, sampled every 5 s and at start: each local service's
 * database pool (`db_pool_connections{service,state}`, from Sequelize's pool: total, in
 * use, and calls waiting for a connection), whether the shared Redis cacher is connected
 * (`redis_connected`, only with a Redis cacher) and whether Kafka answers
 * (`kafka_connected`, only with KAFKA_BROKERS; the readiness probe's own cached answer).
 */
import type { Middleware, ServiceBroker } from "moleculer";
import type { Sequelize } from "sequelize";
import { sharedRedis } from "../lib/cache/capabilities";
import { kafkaEnabled, kafkaStatus } from "../lib/kafka";
import { registerMetrics, setMetric } from "../lib/metrics";

const REFRESH_MS = 5_000;

/** Sequelize's pool (sequelize-pool): SQLite's stays empty, it keeps its own connection. */
interface Pool {
	size: number;
	using: number;
	waiting: number;
}

function poolOf(service: unknown): Pool | undefined {
	const sequelize = (service as { db?: { sequelize?: Sequelize } }).db?.sequelize;
	return (sequelize?.connectionManager as unknown as { pool?: Pool } | undefined)?.pool;
}

async function refresh(broker: ServiceBroker): Promise<void> {
	for (const service of broker.services) {
		const pool = poolOf(service);
		if (!pool || typeof pool.size !== "number") continue;
		setMetric(broker, "db_pool_connections", pool.size, { service: service.name, state: "total" });
		setMetric(broker, "db_pool_connections", pool.using, { service: service.name, state: "in_use" });
		setMetric(broker, "db_pool_connections", pool.waiting, { service: service.name, state: "waiting" });
	}
	const redis = sharedRedis(broker.cacher);
	if (redis) setMetric(broker, "redis_connected", redis.status === "ready" ? 1 : 0);
	if (kafkaEnabled(broker)) setMetric(broker, "kafka_connected", (await kafkaStatus(broker)) === "up" ? 1 : 0);
}

/** Registers the platform gauges on a broker with metrics on, and keeps them current while it runs. */
export function PlatformMetricsMiddleware(): Middleware {
	let timer: NodeJS.Timeout | undefined;
	return {
		name: "PlatformMetrics",
		created(broker: ServiceBroker) {
			if (!broker.isMetricsEnabled()) return;
			registerMetrics(broker, [
				{ name: "db_pool_connections", type: "gauge", labelNames: ["service", "state"], description: "Database pool connections by state: total, in_use, waiting (calls waiting for one)" }
			]);
			if (sharedRedis(broker.cacher)) registerMetrics(broker, [{ name: "redis_connected", type: "gauge", description: "1 while the shared Redis cacher is connected, else 0" }]);
			if (kafkaEnabled(broker)) registerMetrics(broker, [{ name: "kafka_connected", type: "gauge", description: "1 while Kafka answers, else 0" }]);
		},
		started(broker: ServiceBroker) {
			if (!broker.isMetricsEnabled()) return;
			const sample = () => refresh(broker).catch(err => broker.logger.debug("Platform metrics not refreshed:", (err as Error).message));
			void sample();
			timer = setInterval(sample, REFRESH_MS);
			timer.unref();
		},
		stopped() {
			clearInterval(timer);
		}
	} as unknown as Middleware;
}
