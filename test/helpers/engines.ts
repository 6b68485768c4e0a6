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
