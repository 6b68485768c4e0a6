import { isIP } from "node:net";

/**
 * The one typed configuration loader: every setting of the product, read from the
 * environment once at start and validated. A bad value stops the process with one
 * line naming the variable (see `ConfigError`); nothing half-starts.
 */

export const ALL_SERVICES = ["api", "products", "inventory", "purchases", "audit"] as const;
export type ServiceName = (typeof ALL_SERVICES)[number];

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type DatabaseConfig =
	| { dialect: "sqlite"; url: string; storage: string }
	| { dialect: "postgres"; url: string; poolMax: number };

export interface ApiKey {
	/** The actor recorded for requests made with this key; the key itself is never logged. */
	name: string;
	key: string;
}

/** Where Moleculer's spans go (TRACING_EXPORTER): nowhere, Zipkin's HTTP API, or the console. */
export type TracingConfig =
	| { exporter: "none" }
	| { exporter: "console"; sampleRate: number }
	| { exporter: "zipkin"; zipkinUrl: string; sampleRate: number };

export interface AppConfig {
	env: "development" | "production" | "test";
	nodeId?: string;
	namespace: string;
	services: ServiceName[];
	transporter?: string;
	cacher: "Memory" | string;
	database: DatabaseConfig;
	kafkaBrokers: string[];
	/** Partitions of each topic created at start. */
	kafkaPartitions: number;
	elasticsearchUrl?: string;
	apiKeys: ApiKey[];
	/** True when no API_KEYS were given and the built-in development key is in use. */
	devApiKey: boolean;
	port: number;
	/** HEALTH_PORT: a node's own /health/live and /health/ready (its services), for probes; 0 is off. */
	healthPort: number;
	metricsPort: number;
	/** The address the metrics port listens on (METRICS_HOST): loopback unless a deployment says otherwise. */
	metricsHost: string;
	purchaseTtl: number;
	logLevel: LogLevel;
	logFormat: "pretty" | "json";
	rateLimit: number;
	/** Seconds a node reports "draining" (readiness 503) after SIGTERM before it stops. */
	drainSeconds: number;
	tracing: TracingConfig;
}

/** The key accepted when API_KEYS is unset outside production; documented in the README. */
export const DEV_API_KEY: ApiKey = { name: "dev", key: "dev-key-change-me" };

export class ConfigError extends Error {
	constructor(
		readonly variable: string,
		problem: string
	) {
		super(`${variable}: ${problem}`);
		this.name = "ConfigError";
	}
}

type Env = Record<string, string | undefined>;

/** Every variable loadConfig reads (test/unit/env.spec.ts keeps this list true). */
export const CONFIG_VARIABLES = [
	"NODE_ENV",
	"SERVICES",
	"NODE_ID",
	"NAMESPACE",
	"TRANSPORTER",
	"CACHER",
	"DATABASE_URL",
	"DATABASE_POOL_MAX",
	"PORT",
	"HEALTH_PORT",
	"METRICS_PORT",
	"METRICS_HOST",
	"API_KEYS",
	"LOG_LEVEL",
	"LOG_FORMAT",
	"PURCHASE_TTL",
	"KAFKA_BROKERS",
	"KAFKA_PARTITIONS",
	"ELASTICSEARCH_URL",
	"RATE_LIMIT",
	"DRAIN_SECONDS",
	"TRACING_EXPORTER",
	"TRACING_SAMPLE_RATE",
	"ZIPKIN_URL"
] as const;

function read(env: Env, name: string): string | undefined {
	const value = env[name]?.trim();
	return value === undefined || value === "" ? undefined : value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
	const raw = read(env, name);
	if (raw === undefined) return fallback;
	if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
	const value = Number(raw);
	if (value < min || value > max)
		throw new ConfigError(name, `expected a number from ${min} to ${max}, got ${value}`);
	return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
	const raw = read(env, name);
	if (raw === undefined) return fallback;
	if (!(allowed as readonly string[]).includes(raw))
		throw new ConfigError(name, `expected one of ${allowed.join(", ")}, got "${raw}"`);
	return raw as T;
}

function url(name: string, raw: string, protocols: string[]): URL {
	let parsed: URL;
	try {
		parsed = new URL(raw);
	} catch {
		throw new ConfigError(name, `not a valid URL: "${raw}"`);
	}
	if (!protocols.includes(parsed.protocol))
		throw new ConfigError(
			name,
			`expected a ${protocols.map(p => p.replace(":", "://")).join(" or ")} URL, got "${parsed.protocol}//..."`
		);
	return parsed;
}

export function parseDatabase(raw: string | undefined, poolMax = 5): DatabaseConfig {
	const value = raw ?? "sqlite:./data/inventory.sqlite";
	if (value.startsWith("sqlite:")) {
		const storage = value.slice("sqlite:".length).replace(/^\/\//, "");
		if (storage === "") throw new ConfigError("DATABASE_URL", "a sqlite: URL needs a file path");
		return { dialect: "sqlite", url: value, storage };
	}
	url("DATABASE_URL", value, ["postgres:", "postgresql:"]);
	return { dialect: "postgres", url: value, poolMax };
}

function parseServices(raw: string | undefined): ServiceName[] {
	if (raw === undefined || raw === "all" || raw === "*") return [...ALL_SERVICES];
	const names = raw.split(",").map(s => s.trim()).filter(Boolean);
	const unknown = names.filter(n => !(ALL_SERVICES as readonly string[]).includes(n));
	if (unknown.length > 0 || names.length === 0)
		throw new ConfigError(
			"SERVICES",
			`unknown service "${unknown.join(", ")}"; expected "all" or a list of ${ALL_SERVICES.join(", ")}`
		);
	return [...new Set(names)] as ServiceName[];
}

export function parseApiKeys(raw: string | undefined): ApiKey[] {
	if (raw === undefined) return [];
	const keys = raw.split(",").map((pair, index) => {
		const separator = pair.indexOf(":");
		const name = pair.slice(0, separator).trim();
		const key = pair.slice(separator + 1).trim();
		if (separator < 1 || !/^[A-Za-z0-9_.-]+$/.test(name))
			throw new ConfigError("API_KEYS", `entry ${index + 1} is not a name:key pair`);
		if (key.length < 8)
			throw new ConfigError("API_KEYS", `the key of "${name}" is shorter than 8 characters`);
		return { name, key };
	});
	const names = new Set(keys.map(k => k.name));
	if (names.size !== keys.length) throw new ConfigError("API_KEYS", "a name appears twice");
	return keys;
}

function parseTransporter(raw: string | undefined): string | undefined {
	if (raw === undefined || raw.toLowerCase() === "none") return undefined;
	url("TRANSPORTER", raw, ["nats:", "tls:"]);
	return raw;
}

function parseCacher(raw: string | undefined): string {
	if (raw === undefined || raw.toLowerCase() === "memory") return "Memory";
	url("CACHER", raw, ["redis:", "rediss:"]);
	return raw;
}

function parseListenHost(name: string, raw: string | undefined, fallback: string): string {
	if (raw === undefined) return fallback;
	if (isIP(raw) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(raw))
		throw new ConfigError(name, `expected an IP address or a host name, got "${raw}"`);
	return raw;
}

function parseKafkaBrokers(raw: string | undefined): string[] {
	if (raw === undefined) return [];
	return raw.split(",").map(broker => {
		const b = broker.trim();
		if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(b))
			throw new ConfigError("KAFKA_BROKERS", `expected host:port pairs, got "${b}"`);
		return b;
	});
}

/** A share from 0 to 1 (TRACING_SAMPLE_RATE): "0.25", "1", ".5". */
function fraction(env: Env, name: string, fallback: number): number {
	const raw = read(env, name);
	if (raw === undefined) return fallback;
	if (!/^(\d+(\.\d*)?|\.\d+)$/.test(raw)) throw new ConfigError(name, `expected a number from 0 to 1, got "${raw}"`);
	const value = Number(raw);
	if (value > 1) throw new ConfigError(name, `expected a number from 0 to 1, got ${value}`);
	return value;
}

function parseTracing(env: Env): TracingConfig {
	const exporter = oneOf(env, "TRACING_EXPORTER", ["none", "zipkin", "console"], "none");
	const sampleRate = fraction(env, "TRACING_SAMPLE_RATE", 1);
	const zipkin = read(env, "ZIPKIN_URL");
	if (exporter === "none") return { exporter };
	if (exporter === "console") return { exporter, sampleRate };
	// Moleculer appends /api/v2/spans to it.
	const zipkinUrl = url("ZIPKIN_URL", zipkin ?? "http://127.0.0.1:9411", ["http:", "https:"]).href.replace(/\/+$/, "");
	return { exporter, zipkinUrl, sampleRate };
}

/** Parses and validates every setting; throws `ConfigError` naming the first bad one. */
export function loadConfig(env: Env = process.env): AppConfig {
	const nodeEnv = oneOf(env, "NODE_ENV", ["development", "production", "test"], "development");
	const apiKeys = parseApiKeys(read(env, "API_KEYS"));
	if (apiKeys.length === 0 && nodeEnv === "production")
		throw new ConfigError("API_KEYS", "required when NODE_ENV=production");
	const elasticsearch = read(env, "ELASTICSEARCH_URL");
	const namespace = read(env, "NAMESPACE") ?? "";
	if (!/^[A-Za-z0-9_-]*$/.test(namespace))
		throw new ConfigError("NAMESPACE", "only letters, digits, '-' and '_' are allowed");
	const nodeId = read(env, "NODE_ID");
	// Node ids become parts of NATS subjects and Kafka client ids.
	if (nodeId !== undefined && !/^[A-Za-z0-9_.-]{1,100}$/.test(nodeId))
		throw new ConfigError("NODE_ID", "1 to 100 letters, digits, '.', '-' and '_' are allowed");

	return {
		env: nodeEnv,
		nodeId,
		namespace,
		services: parseServices(read(env, "SERVICES")),
		transporter: parseTransporter(read(env, "TRANSPORTER")),
		cacher: parseCacher(read(env, "CACHER")),
		database: parseDatabase(read(env, "DATABASE_URL"), integer(env, "DATABASE_POOL_MAX", 5, 1, 100)),
		kafkaBrokers: parseKafkaBrokers(read(env, "KAFKA_BROKERS")),
		kafkaPartitions: integer(env, "KAFKA_PARTITIONS", 3, 1, 1000),
		elasticsearchUrl:
			elasticsearch && url("ELASTICSEARCH_URL", elasticsearch, ["http:", "https:"]).href,
		apiKeys: apiKeys.length > 0 ? apiKeys : [DEV_API_KEY],
		devApiKey: apiKeys.length === 0,
		port: integer(env, "PORT", 3000, 0, 65535),
		healthPort: integer(env, "HEALTH_PORT", 0, 0, 65535),
		metricsPort: integer(env, "METRICS_PORT", 3030, 0, 65535),
		metricsHost: parseListenHost("METRICS_HOST", read(env, "METRICS_HOST"), "127.0.0.1"),
		purchaseTtl: integer(env, "PURCHASE_TTL", 900, 1, 7 * 24 * 3600),
		logLevel: oneOf(env, "LOG_LEVEL", LOG_LEVELS, "info"),
		logFormat: oneOf(env, "LOG_FORMAT", ["pretty", "json"], nodeEnv === "production" ? "json" : "pretty"),
		rateLimit: integer(env, "RATE_LIMIT", 6000, 0, 10_000_000),
		drainSeconds: integer(env, "DRAIN_SECONDS", 1, 0, 300),
		tracing: parseTracing(env)
	};
}
