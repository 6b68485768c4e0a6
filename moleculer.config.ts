/**
 * Broker options, built from the typed configuration (config/env.ts): transporter,
 * cacher, logger, validator, metrics. Later work fills resilience and tracing here.
 */
import { Validators, type BrokerOptions } from "moleculer";
import type { AppConfig } from "./config/env";
import { attachConfig } from "./config/broker-config";
import { VALIDATION_MESSAGES } from "./services/shared/params";

function cacher(config: AppConfig): BrokerOptions["cacher"] {
	if (config.cacher === "Memory") return { type: "Memory", options: { clone: true } };
	// ioredis takes the URL as it is.
	return { type: "Redis", options: { redis: config.cacher as never, prefix: config.namespace || undefined } };
}

export function createBrokerOptions(config: AppConfig): BrokerOptions {
	const options: BrokerOptions = {
		namespace: config.namespace,
		nodeID: config.nodeId,
		transporter: (config.transporter ?? null) as BrokerOptions["transporter"],
		serializer: "JSON",
		cacher: cacher(config),
		logger: {
			type: "Console",
			options: {
				level: config.logLevel,
				formatter: config.logFormat === "json" ? "json" : "short",
				colors: config.logFormat === "pretty",
				moduleColors: config.logFormat === "pretty"
			}
		},
		logLevel: config.logLevel,
		requestTimeout: 10_000,
		validator: new Validators.Fastest({
			useNewCustomCheckerFunction: true,
			messages: VALIDATION_MESSAGES
		} as ConstructorParameters<typeof Validators.Fastest>[0]),
		metrics: {
			enabled: config.metricsPort > 0,
			reporter: [{ type: "Prometheus", options: { port: config.metricsPort, path: "/metrics" } }]
		},
		tracing: { enabled: false }
	};
	return attachConfig(options, config);
}
