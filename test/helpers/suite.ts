/** A node on a fresh database per suite, for integration and end-to-end tests. */
import type { ServiceSchema } from "moleculer";
import { createTestDatabase, type TestDatabase } from "./databases";
import { startNode, type TestNode } from "./nodes";
import type { TestDialect } from "./engines";

/**
 * The title of a test of concurrent writes. On SQLite the transactions of a process take
 * turns (one writer at a time), so there the test cannot show a race inside a transaction
 * (a missing row lock, a lost update), only between them; the title says so.
 */
export function concurrencyTitle(dialect: TestDialect, title: string): string {
	return dialect === "sqlite" ? `${title} (SQLite: transactions take turns, so no race inside one)` : title;
}

export interface Suite {
	db: TestDatabase;
	node: TestNode;
	/** Stops the node and starts it again on the same database. */
	restart(env?: Record<string, string>): Promise<TestNode>;
}

/** Starts a node on a new database before the suite and drops both after it. */
export function useNode(
	dialect: TestDialect,
	env: Record<string, string> = {},
	extraServices: ServiceSchema[] = []
): Suite {
	const suite = {} as Suite;
	const start = async (more: Record<string, string> = {}) => {
		const node = await startNode({ DATABASE_URL: suite.db.url, ...env, ...more }, extraServices);
		suite.node = node;
		return node;
	};
	suite.restart = async more => {
		await suite.node.stop();
		return start(more);
	};
	beforeAll(async () => {
		suite.db = await createTestDatabase(dialect);
		await start();
	});
	afterAll(async () => {
		await suite.node?.stop();
		await suite.db?.drop();
	});
	return suite;
}
