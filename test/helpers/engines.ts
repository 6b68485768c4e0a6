/**
 * Engines for tests come from env vars. Outside CI a missing one skips its suites with a
 * line naming the variable; in CI (CI=true) it fails the run instead.
 */
export const POSTGRES_ENV = "TEST_POSTGRES_URL";

const inCi = process.env.CI === "true";

/** The engine's address, or undefined (after saying what to set) when the suite should skip. */
export function engineUrl(variable: string, example: string): string | undefined {
	const value = process.env[variable];
	if (value) return value;
	if (inCi) throw new Error(`${variable} is not set: CI must provide it (for example ${variable}=${example}).`);
	console.error(`skipping: set ${variable} (for example ${variable}=${example}) to run these tests against it.`);
	return undefined;
}

export type TestDialect = "sqlite" | "postgres";

/** The dialects to run database suites on: SQLite always, PostgreSQL when configured. */
export function testDialects(): TestDialect[] {
	return engineUrl(POSTGRES_ENV, "postgres://postgres@127.0.0.1:5432/test") ? ["sqlite", "postgres"] : ["sqlite"];
}

export const NATS_ENV = "TEST_NATS_URL";
export const REDIS_ENV = "TEST_REDIS_URL";

/** NATS, Redis and PostgreSQL for cluster suites, or undefined (after saying what to set). */
export function clusterEngines(): { nats: string; redis: string } | undefined {
	const nats = engineUrl(NATS_ENV, "nats://127.0.0.1:4222");
	const redis = engineUrl(REDIS_ENV, "redis://127.0.0.1:6379");
	const postgres = engineUrl(POSTGRES_ENV, "postgres://postgres@127.0.0.1:5432/test");
	return nats && redis && postgres ? { nats, redis } : undefined;
}

/** `describe` when the engines are there, `describe.skip` (after the line above) when not. */
export function describeWith(engines: unknown): jest.Describe {
	return engines ? describe : describe.skip;
}

export const ELASTICSEARCH_ENV = "TEST_ELASTICSEARCH_URL";
export const ELASTICSEARCH_RESTARTABLE_ENV = "TEST_ELASTICSEARCH_RESTARTABLE";

export const KAFKA_ENV = "TEST_KAFKA_BROKERS";
export const KAFKA_RESTARTABLE_ENV = "TEST_KAFKA_RESTARTABLE";

/**
 * Whether the outage suites may stop and restart an engine: `variable` is "true" when the
 * engine is scripts/infra.sh's own. When not, outside CI they skip with a line naming the
 * variable; in CI (CI=true) the run fails, as for a missing engine.
 */
export function restartable(variable: string): boolean {
	if (process.env[variable] === "true") return true;
	const what = `${variable}=true (the engine started by scripts/infra.sh, which the outage suite stops and restarts)`;
	if (inCi) throw new Error(`${variable} is not "true": CI must run the outage suites, with ${what}.`);
	console.error(`skipping an outage suite: set ${what} to run it.`);
	return false;
}

export const ZIPKIN_ENV = "TEST_ZIPKIN_URL";
