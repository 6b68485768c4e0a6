/**
 * Starts a node: the services named by SERVICES (all by default) on one broker, built
 * from the environment. `--repl` opens Moleculer's REPL on the running node.
 */
import { ServiceBroker } from "moleculer";
import { ConfigError, loadConfig, type AppConfig } from "./config/env";
import { createBrokerOptions } from "./moleculer.config";
import { SERVICE_SCHEMAS } from "./services";

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
	await broker.start();
	if (process.argv.includes("--repl")) await broker.repl();
}

if (require.main === module) {
	main().catch(err => {
		console.error("Failed to start:", err);
		process.exit(1);
	});
}
