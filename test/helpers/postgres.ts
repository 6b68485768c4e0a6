/**
 * A PostgreSQL session of the test's own on a suite's database: to read what the services
 * stored, and to hold locks that keep a request in flight for real until the test lets go.
 */
import { Client } from "pg";

export class TestSession {
	private constructor(
		private readonly url: string,
		private readonly client: Client
	) {}

	static async open(url: string): Promise<TestSession> {
		const client = new Client({ connectionString: url });
		// The suite may drop its database (ending this session) before the session is closed.
		client.on("error", () => undefined);
		await client.connect();
		return new TestSession(url, client);
	}

	async rows<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
		return (await this.client.query(sql, params)).rows as T[];
	}

	/** Sessions waiting right now for a lock on `table` (schema-qualified). */
	async waitersOn(table: string): Promise<number> {
		const [row] = await this.rows<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = $1::regclass", [table]);
		return row.n;
	}

	/**
	 * The statements of this database's sessions that wait right now for a lock of any kind:
	 * a table's, a row's, or the transaction that wrote a row with the same unique key.
	 */
	async blockedStatements(): Promise<string[]> {
		const rows = await this.rows<{ query: string }>(
			"SELECT query FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
		);
		return rows.map(row => row.query);
	}

	/**
	 * Runs `sql` (a LOCK TABLE, a SELECT ... FOR UPDATE) in a transaction of another session,
	 * kept open until the returned function rolls it back.
	 */
	async hold(sql: string, params: unknown[] = []): Promise<() => Promise<void>> {
		const holder = new Client({ connectionString: this.url });
		await holder.connect();
		try {
			await holder.query("BEGIN");
			await holder.query(sql, params);
		} catch (err) {
			await holder.end();
			throw err;
		}
		let released: Promise<void> | undefined;
		return () => (released ??= holder.query("ROLLBACK").then(() => holder.end()));
	}

	close(): Promise<void> {
		return this.client.end();
	}
}
