/**
 * Starts a node: the services named by SERVICES (all by default) on one broker, built
 * from the environment. `--repl` opens Moleculer's REPL on the running node.
 */
import { ServiceBroker } from "moleculer";
import { ConfigError, loadConfig, type AppConfig } from "./config/env";
import { createBrokerOptions } from "./moleculer.config";
import { markDraining } from "./config/broker-config";
import { SERVICE_SCHEMAS } from "./services";
import { startHealthServer } from "./lib/health-server";
import { logProcessWarnings } from "./lib/json-log";

export function createNode(config: AppConfig): ServiceBroker {
	const broker = new ServiceBroker(createBrokerOptions(config));
	for (const name of config.services) broker.createService(SERVICE_SCHEMAS[name]);
	return broker;
}

async function main(): Promise<void> {
	let config: AppConfig;
	try {
		config = loadConfig();
	} catch (err) {
		if (err instanceof ConfigError) {
			console.error(`Invalid configuration: ${err.message}`);
			process.exit(1);
		}
		throw err;
	}
	const broker = createNode(config);
	// Every line JSON: Node's warnings (a dependency's negative timeout, say) too.
	if (config.logFormat === "json") logProcessWarnings(broker.getLogger("process"));
	stopGracefullyOnSignals(broker, config.drainSeconds);
	if (config.healthPort > 0) (await startHealthServer(broker, config.healthPort, config.services)).unref();
	await broker.start();
	if (process.argv.includes("--repl")) await broker.repl();
}

/**
 * SIGTERM or SIGINT: report "draining" for a moment so load balancers move traffic away,
 * then stop the broker: in-flight requests finish, the outbox relays flush, and the node
 * leaves the cluster last.
 */
function stopGracefullyOnSignals(broker: ServiceBroker, drainSeconds: number): void {
	let stopping = false;
	const stop = async (signal: string) => {
		if (stopping) return;
		stopping = true;
		broker.logger.info(`${signal}: draining for ${drainSeconds} s, then stopping.`);
		markDraining(broker);
		await new Promise(resolve => setTimeout(resolve, drainSeconds * 1000));
		try {
			await broker.stop();
			process.exit(0);
		} catch (err) {
			console.error("Failed to stop cleanly:", err);
			process.exit(1);
		}
	};
	process.once("SIGTERM", () => void stop("SIGTERM"));
	process.once("SIGINT", () => void stop("SIGINT"));
}

if (require.main === module) {
	main().catch(err => {
		console.error("Failed to start:", err);
		process.exit(1);
	});
}
