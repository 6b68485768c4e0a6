/**
 * The loaded configuration travels with its broker, so several brokers in one process
 * (tests, a local cluster) can each have their own. It is attached non-enumerable: the
 * REPL's `info` and `$node.options` never print it, and with it the API keys.
 */
import type { BrokerOptions, ServiceBroker } from "moleculer";
import type { AppConfig } from "./env";

const KEY = "appConfig";

export function attachConfig<T extends BrokerOptions>(options: T, config: AppConfig): T {
	Object.defineProperty(options, KEY, { value: config, enumerable: false });
	return options;
}

export function appConfig(broker: ServiceBroker): AppConfig {
	const config = (broker.options as Record<string, unknown>)[KEY] as AppConfig | undefined;
	if (!config) throw new Error("the broker was created without createBrokerOptions(config)");
	return config;
}

const draining = new WeakSet<ServiceBroker>();

/** Marks a node as shutting down: readiness turns 503 so traffic moves elsewhere. */
export function markDraining(broker: ServiceBroker): void {
	draining.add(broker);
}

export function isDraining(broker: ServiceBroker): boolean {
	return draining.has(broker);
}
