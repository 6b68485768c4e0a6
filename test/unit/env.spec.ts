import { CONFIG_VARIABLES, ConfigError, DEV_API_KEY, loadConfig, parseApiKeys, parseDatabase } from "../../config/env";

/** Runs `fn` and returns what it threw, so a test can check both the class and the message. */
function thrown(fn: () => unknown): unknown {
	try {
		fn();
	} catch (err) {
		return err;
	}
	throw new Error("expected the call to throw");
}

describe("loadConfig", () => {
	describe("on an empty environment", () => {
		const config = loadConfig({});

		it("uses a local sqlite file as the database", () => {
			expect(config.database).toEqual({
				dialect: "sqlite",
				url: "sqlite:./data/inventory.sqlite",
				storage: "./data/inventory.sqlite"
			});
		});

		it("runs every service", () => {
			expect(config.services).toEqual(["api", "products", "inventory", "purchases", "audit"]);
		});

		it("uses the memory cacher and no transporter", () => {
			expect(config.cacher).toBe("Memory");
			expect(config.transporter).toBeUndefined();
		});

		it("listens on port 3000 and exports metrics on 3030", () => {
			expect(config.port).toBe(3000);
			expect(config.metricsPort).toBe(3030);
		});

		it("holds purchases for 900 s and allows 6000 requests per window", () => {
			expect(config.purchaseTtl).toBe(900);
			expect(config.rateLimit).toBe(6000);
		});

		it("accepts only the development API key and says so", () => {
			expect(config.apiKeys).toEqual([DEV_API_KEY]);
			expect(config.devApiKey).toBe(true);
		});

		it("runs as development with pretty info logs, no kafka and no elasticsearch", () => {
			expect(config).toMatchObject({ env: "development", namespace: "", logLevel: "info", logFormat: "pretty" });
			expect(config.kafkaBrokers).toEqual([]);
			expect(config.elasticsearchUrl).toBeUndefined();
		});
	});

	it("reads exactly the variables CONFIG_VARIABLES names", () => {
		const asked = new Set<string>();
		loadConfig(new Proxy({} as Record<string, string | undefined>, { get: (_env, name) => (asked.add(String(name)), undefined) }));
		expect([...asked].sort()).toEqual([...CONFIG_VARIABLES].sort());
	});

	it("treats blank values as unset", () => {
		expect(loadConfig({ PORT: "  ", SERVICES: "", CACHER: " " })).toMatchObject({
			port: 3000,
			services: ["api", "products", "inventory", "purchases", "audit"],
			cacher: "Memory"
		});
	});

	it.each([
		["PORT", { PORT: "abc" }],
		["PORT", { PORT: "70000" }],
		["PORT", { PORT: "-1" }],
		["METRICS_PORT", { METRICS_PORT: "3.5" }],
		["PURCHASE_TTL", { PURCHASE_TTL: "0" }],
		["RATE_LIMIT", { RATE_LIMIT: "lots" }],
		["SERVICES", { SERVICES: "foo" }],
		["SERVICES", { SERVICES: "products,foo" }],
		["TRANSPORTER", { TRANSPORTER: "http://x" }],
		["TRANSPORTER", { TRANSPORTER: "not a url" }],
		["CACHER", { CACHER: "memcached://x" }],
		["DATABASE_URL", { DATABASE_URL: "mysql://x" }],
		["DATABASE_URL", { DATABASE_URL: "sqlite:" }],
		["API_KEYS", { API_KEYS: "no-separator" }],
		["API_KEYS", { API_KEYS: "alice:short" }],
		["API_KEYS", { API_KEYS: "alice:0123456789,alice:abcdefghij" }],
		["LOG_LEVEL", { LOG_LEVEL: "loud" }],
		["LOG_FORMAT", { LOG_FORMAT: "xml" }],
		["NODE_ENV", { NODE_ENV: "staging" }],
		["API_KEYS", { NODE_ENV: "production" }],
		["KAFKA_BROKERS", { KAFKA_BROKERS: "bad" }],
		["ELASTICSEARCH_URL", { ELASTICSEARCH_URL: "ftp://x" }],
		["NAMESPACE", { NAMESPACE: "my namespace" }],
		["NODE_ID", { NODE_ID: "node one" }],
		["NODE_ID", { NODE_ID: "node.>" }],
		["TRACING_EXPORTER", { TRACING_EXPORTER: "jaeger" }],
		["TRACING_SAMPLE_RATE", { TRACING_EXPORTER: "zipkin", TRACING_SAMPLE_RATE: "1.5" }],
		["TRACING_SAMPLE_RATE", { TRACING_EXPORTER: "zipkin", TRACING_SAMPLE_RATE: "-0.1" }],
		["TRACING_SAMPLE_RATE", { TRACING_EXPORTER: "zipkin", TRACING_SAMPLE_RATE: "half" }],
		["ZIPKIN_URL", { TRACING_EXPORTER: "zipkin", ZIPKIN_URL: "zipkin:9411" }],
		["ZIPKIN_URL", { TRACING_EXPORTER: "zipkin", ZIPKIN_URL: "udp://zipkin:9411" }]
	])("names %s in the error for %j", (variable, env) => {
		const err = thrown(() => loadConfig(env));
		expect(err).toBeInstanceOf(ConfigError);
		expect(err).toMatchObject({ name: "ConfigError", variable });
		expect((err as Error).message.startsWith(`${variable}: `)).toBe(true);
	});

	it("requires API keys in production and uses the given ones", () => {
		const config = loadConfig({ NODE_ENV: "production", API_KEYS: "shop:0123456789abcdef" });
		expect(config.apiKeys).toEqual([{ name: "shop", key: "0123456789abcdef" }]);
		expect(config.devApiKey).toBe(false);
		expect(config.logFormat).toBe("json");
	});

	it("accepts a NATS transporter URL as given", () => {
		expect(loadConfig({ TRANSPORTER: "nats://127.0.0.1:4222" }).transporter).toBe("nats://127.0.0.1:4222");
	});

	it("treats TRANSPORTER=none as no transporter", () => {
		expect(loadConfig({ TRANSPORTER: "none" }).transporter).toBeUndefined();
	});

	it("accepts a redis cacher URL", () => {
		expect(loadConfig({ CACHER: "redis://cache:6379" }).cacher).toBe("redis://cache:6379");
	});

	it("runs only the listed services", () => {
		expect(loadConfig({ SERVICES: "products,inventory" }).services).toEqual(["products", "inventory"]);
	});

	it("lists a repeated service once", () => {
		expect(loadConfig({ SERVICES: "products, products" }).services).toEqual(["products"]);
	});

	it("parses kafka brokers into host:port strings", () => {
		expect(loadConfig({ KAFKA_BROKERS: "kafka-1:9092, kafka-2:9092" }).kafkaBrokers).toEqual([
			"kafka-1:9092",
			"kafka-2:9092"
		]);
	});

	it("accepts the port bounds 0 and 65535", () => {
		expect(loadConfig({ PORT: "0", METRICS_PORT: "65535" })).toMatchObject({ port: 0, metricsPort: 65535 });
	});
});

describe("parseDatabase", () => {
	it("defaults to the local sqlite file", () => {
		expect(parseDatabase(undefined)).toEqual({
			dialect: "sqlite",
			url: "sqlite:./data/inventory.sqlite",
			storage: "./data/inventory.sqlite"
		});
	});

	it("reads the file path of a sqlite:// URL", () => {
		expect(parseDatabase("sqlite:///var/lib/inventory.sqlite")).toEqual({
			dialect: "sqlite",
			url: "sqlite:///var/lib/inventory.sqlite",
			storage: "/var/lib/inventory.sqlite"
		});
	});

	it.each(["postgres://app:secret@db:5432/inventory", "postgresql://db/inventory"])("accepts the PostgreSQL URL %s", raw => {
		expect(parseDatabase(raw)).toEqual({ dialect: "postgres", url: raw, poolMax: 5 });
	});

	it("rejects a MySQL URL naming DATABASE_URL", () => {
		expect(() => parseDatabase("mysql://x")).toThrow(ConfigError);
		expect(() => parseDatabase("mysql://x")).toThrow(/^DATABASE_URL: /);
	});

	it("rejects a sqlite URL without a file path", () => {
		expect(() => parseDatabase("sqlite://")).toThrow(/^DATABASE_URL: .*file path/);
	});
});

describe("parseApiKeys", () => {
	it("returns no keys when unset", () => {
		expect(parseApiKeys(undefined)).toEqual([]);
	});

	it("parses name:key pairs, trimming spaces", () => {
		expect(parseApiKeys("shop:0123456789abcdef, admin : s3cret-key-42")).toEqual([
			{ name: "shop", key: "0123456789abcdef" },
			{ name: "admin", key: "s3cret-key-42" }
		]);
	});

	it("keeps colons inside the key", () => {
		expect(parseApiKeys("shop:abc:defgh:ij")).toEqual([{ name: "shop", key: "abc:defgh:ij" }]);
	});

	it("rejects an entry without a name", () => {
		expect(() => parseApiKeys(":0123456789")).toThrow(/^API_KEYS: entry 1 is not a name:key pair/);
	});

	it("rejects a name with spaces", () => {
		expect(() => parseApiKeys("the shop:0123456789")).toThrow(/^API_KEYS: entry 1/);
	});

	it("rejects an empty entry after a trailing comma", () => {
		expect(() => parseApiKeys("shop:0123456789,")).toThrow(/^API_KEYS: entry 2/);
	});

	it("rejects a key shorter than 8 characters without showing it", () => {
		const err = thrown(() => parseApiKeys("shop:1234567"));
		expect(err).toMatchObject({ variable: "API_KEYS" });
		expect((err as Error).message).toContain('"shop"');
		expect((err as Error).message).not.toContain("1234567");
	});

	it("rejects a name given twice", () => {
		expect(() => parseApiKeys("shop:0123456789,shop:abcdefghij")).toThrow(/^API_KEYS: a name appears twice/);
	});
});

describe("METRICS_HOST", () => {
	it("listens on loopback unless told otherwise", () => {
		expect(loadConfig({}).metricsHost).toBe("127.0.0.1");
	});

	it("takes an IPv4 or IPv6 address or a host name", () => {
		for (const host of ["0.0.0.0", "::", "10.0.0.7", "fd00::2", "metrics.internal", "localhost"]) expect(loadConfig({ METRICS_HOST: host }).metricsHost).toBe(host);
	});

	it.each(["http://0.0.0.0", "0.0.0.0:3030", "two words", "-leading.dash", "a/b"])("names METRICS_HOST in the error for %j", host => {
		expect(thrown(() => loadConfig({ METRICS_HOST: host }))).toMatchObject({ name: "ConfigError", variable: "METRICS_HOST" });
	});
});

describe("tracing", () => {
	it("is off unless TRACING_EXPORTER chooses an exporter", () => {
		expect(loadConfig({}).tracing).toEqual({ exporter: "none" });
		expect(loadConfig({ ZIPKIN_URL: "http://zipkin:9411" }).tracing).toEqual({ exporter: "none" });
	});

	it("sends every trace to Zipkin on 127.0.0.1:9411 unless told otherwise", () => {
		expect(loadConfig({ TRACING_EXPORTER: "zipkin" }).tracing).toEqual({ exporter: "zipkin", zipkinUrl: "http://127.0.0.1:9411", sampleRate: 1 });
	});

	it("takes the Zipkin URL and the sample rate", () => {
		expect(loadConfig({ TRACING_EXPORTER: "zipkin", ZIPKIN_URL: "http://zipkin:9411/", TRACING_SAMPLE_RATE: "0.25" }).tracing).toEqual({
			exporter: "zipkin",
			zipkinUrl: "http://zipkin:9411",
			sampleRate: 0.25
		});
		expect(loadConfig({ TRACING_EXPORTER: "console", TRACING_SAMPLE_RATE: "0" }).tracing).toEqual({ exporter: "console", sampleRate: 0 });
	});
});
