/**
 * Broker options, built from the typed configuration (config/env.ts): transporter,
 * cacher, logger, validator, metrics, and the resilience middlewares in an order that
 * lets them work together.
 */
import { randomBytes } from "node:crypto";
import { Validators, type BrokerOptions, type MetricRegistry, type ServiceBroker } from "moleculer";
import type { AppConfig } from "./config/env";
import { attachConfig } from "./config/broker-config";
import { VALIDATION_MESSAGES } from "./lib/params";
import { PolicyMemoryCacher } from "./lib/cache/memory-cacher";
import { ResilientRedisCacher } from "./lib/cache/redis-cacher";
import { NearCacheMiddleware } from "./middlewares/near-cache.middleware";
import { CacheMetricsMiddleware } from "./middlewares/cache-metrics.middleware";
import { FailoverMiddleware } from "./middlewares/failover.middleware";
import { ProcessMetricsMiddleware } from "./middlewares/process-metrics.middleware";
import { PlatformMetricsMiddleware } from "./middlewares/platform-metrics.middleware";
import { disconnectKafka } from "./lib/kafka";
import { PrometheusReporter } from "./lib/prometheus-reporter";
import { useFastHistograms } from "./lib/fast-histogram";
import { replCommands } from "./lib/repl/commands";
import { jsonLogFormatter, printedObject } from "./lib/json-log";
import { LogContextMiddleware } from "./middlewares/log-context.middleware";
import { tracingOptions } from "./lib/tracing";

function cacher(config: AppConfig): BrokerOptions["cacher"] {
	// Cached answers are only serialized, never changed, so they are not copied on each hit.
	if (config.cacher === "Memory") return new PolicyMemoryCacher({ clone: false });
	return new ResilientRedisCacher(config.cacher, `pi-cache-version:${config.namespace}:`);
}

/**
 * Moleculer's own middlewares, reordered: the timeout is wrapped by the circuit breaker
 * (the default order puts the timeout outside, so a hanging service never opens the
 * breaker: moleculer issue 1202), and both are wrapped by failover, in the place of
 * Moleculer's Retry (which may pick the same dead node again), and fallback. The near
 * cache wraps everything, so a hit costs no remote call at all.
 */
const middlewareOrder = (config: AppConfig): BrokerOptions["middlewares"] => [
	"ActionHook",
	"Validator",
	"Bulkhead",
	"Cacher",
	"ContextTracker",
	"Timeout",
	"CircuitBreaker",
	FailoverMiddleware(),
	"Fallback",
	"ErrorHandler",
	"Tracing",
	"Metrics",
	"Debounce",
	"Throttle",
	NearCacheMiddleware(),
	CacheMetricsMiddleware(),
	KafkaLinkMiddleware,
	ProcessMetricsMiddleware(),
	PlatformMetricsMiddleware(),
	// Only JSON lines carry the call's ids: the pretty format pays nothing for them.
	...(config.logFormat === "json" ? [LogContextMiddleware()] : [])
] as BrokerOptions["middlewares"];

/** Closes the node's Kafka producer once every service (and its outbox relay) has stopped. */
const KafkaLinkMiddleware = {
	name: "KafkaLink",
	stopped(this: unknown, broker?: ServiceBroker) {
		return broker ? disconnectKafka(broker) : undefined;
	}
};

/**
 * A node id when NODE_ID gives none. Moleculer's own is `<host name>-<pid>`, which every
 * metric carries in its `nodeID` label (and other nodes' in theirs): the metrics port
 * would tell the host's name to anyone who reads it.
 */
const generatedNodeId = () => `node-${process.pid}-${randomBytes(3).toString("hex")}`;

export function createBrokerOptions(config: AppConfig): BrokerOptions {
	useFastHistograms();
	const options: BrokerOptions = {
		namespace: config.namespace,
		nodeID: config.nodeId ?? generatedNodeId(),
		transporter: (config.transporter ?? null) as BrokerOptions["transporter"],
		serializer: "JSON",
		cacher: cacher(config),
		logger: {
			type: "Console",
			options: {
				level: config.logLevel,
				formatter: config.logFormat === "json" ? jsonLogFormatter : "short",
				colors: config.logFormat === "pretty",
				moduleColors: config.logFormat === "pretty",
				// Moleculer prints objects and errors whole, an error's `data` too (a validation error's holds the values it refused).
				objectPrinter: (value: object) => printedObject(value, config.logFormat === "pretty")
			}
		},
		logLevel: config.logLevel,
		requestTimeout: 10_000,
		// A node that dies without saying goodbye is noticed within seconds, not half a minute.
		heartbeatInterval: 2,
		heartbeatTimeout: 6,
		circuitBreaker: {
			enabled: true,
			threshold: 0.5,
			minRequestCount: 20,
			windowTime: 30,
			halfOpenTime: 5_000,
			check: err => ((err as { code?: number }).code ?? 500) >= 500
		},
		// In-flight requests finish before a service stops; server.ts handles the signals.
		tracking: { enabled: true, shutdownTimeout: 10_000 },
		skipProcessEventRegistration: true,
		internalMiddlewares: false,
		middlewares: middlewareOrder(config),
		validator: new Validators.Fastest({
			useNewCustomCheckerFunction: true,
			messages: VALIDATION_MESSAGES
		} as ConstructorParameters<typeof Validators.Fastest>[0]),
		// Moleculer's process and OS metrics would expose the host (ProcessMetricsMiddleware says what instead).
		metrics: {
			enabled: config.metricsPort > 0,
			collectProcessMetrics: false,
			// Moleculer takes a reporter instance as well as a type name, which its types leave out.
			reporter: [
				new PrometheusReporter({
					port: config.metricsPort,
					host: config.metricsHost,
					path: "/metrics",
					// Moleculer's default labels are `namespace` and `nodeID`; Prometheus wants label names in snake_case (promtool).
					defaultLabels: registry => ({ namespace: registry.broker.namespace, node_id: registry.broker.nodeID })
				}) as unknown as MetricRegistry.MetricsReporter
			]
		},
		tracing: tracingOptions(config.tracing),
		// The operators' commands (lib/repl/commands.ts) for `npm run repl` and any node started with --repl.
		replOptions: { customCommands: replCommands() }
	};
	return attachConfig(options, config);
}
