/**
 * One database per service: a PostgreSQL schema named after the service, or on SQLite a
 * file of its own next to the configured path (data/inventory.sqlite ->
 * data/inventory.products.sqlite), so services never share tables or write locks.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { mkdirSync } from "node:fs";
import { dirname, extname, join, basename } from "node:path";
import { QueryTypes, Sequelize, Transaction } from "sequelize";
import type { DatabaseConfig } from "../config/env";

export type Dialect = DatabaseConfig["dialect"];

export interface Database {
	sequelize: Sequelize;
	dialect: Dialect;
	/** The PostgreSQL schema, or the SQLite file, that holds this service's tables. */
	location: string;
	/** Runs `work` in one transaction; on SQLite transactions of a process take turns. */
	transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
	/**
	 * Runs `hook` once `tx` has committed, before `transaction` resolves; never when it did
	 * not (Sequelize's own afterCommit also runs after a failed COMMIT). A failing hook is
	 * logged: it cannot undo the commit, so the work still succeeds.
	 */
	afterCommit(tx: Transaction, hook: () => unknown): void;
	/**
	 * Runs a statement and returns its rows (also for INSERT/UPDATE ... RETURNING). On SQLite
	 * a write given no `tx` takes the writers' turn like a transaction of its own, so inside a
	 * transaction's work it must be given that transaction's `tx` (it throws if not).
	 */
	rows<T>(sql: string, replacements?: Record<string, unknown>, tx?: Transaction): Promise<T[]>;
	/** " FOR UPDATE" to lock the rows a SELECT in `tx` reads on PostgreSQL; "" otherwise (SQLite's transaction holds the file). */
	lockFor(tx?: Transaction): string;
	/** Refuses new transactions and waits (5 s at most) for the running ones, so closing never pulls a connection away mid-statement. */
	drain(): Promise<void>;
	/** Drains, then closes the connections. */
	close(): Promise<void>;
}

function sqliteFileFor(storage: string, schema: string): string {
	if (storage === ":memory:") return storage;
	const ext = extname(storage) || ".sqlite";
	return join(dirname(storage), `${basename(storage, extname(storage))}.${schema}${ext}`);
}

const SCHEMA_NAME = /^[a-z][a-z0-9_]*$/;
const READ_ONLY = /^\s*(SELECT|PRAGMA)\b/i;

/** How long an SQLite statement waits for another connection's write lock before SQLITE_BUSY. */
const SQLITE_BUSY_TIMEOUT_MS = 10_000;

interface SqliteConnection {
	configure(option: "busyTimeout", ms: number): void;
}

/**
 * Gives every SQLite connection its busy timeout. Sequelize's SQLite driver opens a
 * connection per transaction and runs no connect hooks (an `afterConnect` hook never
 * fires), so each would keep the driver's 1 s and fail under a writer that takes longer.
 */
function waitForWriters(sequelize: Sequelize): void {
	const manager = sequelize.connectionManager as unknown as { getConnection(options?: object): Promise<SqliteConnection> };
	const getConnection = manager.getConnection.bind(manager);
	manager.getConnection = async options => {
		const connection = await getConnection(options);
		connection.configure("busyTimeout", SQLITE_BUSY_TIMEOUT_MS);
		return connection;
	};
}

export function openDatabase(config: DatabaseConfig, schema: string, logger: Pick<Console, "warn"> = console): Database {
	if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name "${schema}"`);
	let sequelize: Sequelize;
	let location: string;
	if (config.dialect === "sqlite") {
		location = sqliteFileFor(config.storage, schema);
		if (location !== ":memory:") mkdirSync(dirname(location), { recursive: true });
		sequelize = new Sequelize({
			dialect: "sqlite",
			storage: location,
			logging: false,
			// A writer takes the write lock when it begins, so two transactions never
			// deadlock upgrading read locks; other connections wait instead of failing.
			transactionType: Transaction.TYPES.IMMEDIATE
		});
		waitForWriters(sequelize);
	} else {
		location = schema;
		sequelize = new Sequelize(config.url, {
			dialect: "postgres",
			logging: false,
			// Per service and node: PostgreSQL's connections are shared by every node of the cluster.
			pool: { max: config.poolMax, min: 0, idle: 10_000, acquire: 10_000 },
			dialectOptions: { options: `-c search_path=${schema}` }
		});
	}

	// SQLite allows one writer per file: transactions of this process queue here rather
	// than spinning on SQLITE_BUSY. PostgreSQL runs them concurrently under row locks.
	let turn: Promise<unknown> = Promise.resolve();
	const inFlight = new Set<Promise<unknown>>();
	let closing = false;
	const commitHooks = new WeakMap<Transaction, (() => unknown)[]>();
	/** The transaction whose work is running, to refuse a write that would wait for its own turn. */
	const working = new AsyncLocalStorage<Transaction>();
	const afterCommit = (tx: Transaction, hook: () => unknown) => {
		const hooks = commitHooks.get(tx);
		if (!hooks) throw new Error(`afterCommit needs a transaction opened by the ${schema} database's transaction()`);
		hooks.push(hook);
	};
	const runHooks = async (tx: Transaction) => {
		for (const hook of commitHooks.get(tx) ?? []) {
			try {
				await hook();
			} catch (err) {
				logger.warn(`After a commit in ${schema}:`, (err as Error).message);
			}
		}
	};
	const transaction = <T>(work: (tx: Transaction) => Promise<T>): Promise<T> => {
		if (closing) return Promise.reject(new Error(`the ${schema} database is closing`));
		let opened: Transaction | undefined;
		const begin = () =>
			sequelize.transaction(tx => {
				opened = tx;
				commitHooks.set(tx, []);
				return working.run(tx, () => work(tx));
			});
		let committed: Promise<T>;
		if (config.dialect !== "sqlite") committed = begin();
		else {
			committed = turn.then(begin);
			turn = committed.catch(() => undefined);
		}
		// Hooks run once the transaction (and on SQLite its turn) is over: they never hold up other writers.
		const run = committed.then(async result => {
			await runHooks(opened!);
			return result;
		});
		const settled = run.catch(() => undefined);
		inFlight.add(settled);
		void settled.then(() => inFlight.delete(settled));
		return run;
	};

	// Sequelize's SQLite driver runs a statement that starts with "INSERT INTO" without
	// fetching rows, which would drop RETURNING; a leading comment makes it fetch them.
	const query = <T>(sql: string, replacements: Record<string, unknown> | undefined, tx: Transaction | undefined) =>
		sequelize.query(`/* rows */ ${sql}`, { type: QueryTypes.SELECT, replacements, transaction: tx }) as Promise<T[]>;
	// On SQLite a write outside a transaction takes the writers' turn too: waiting for the
	// file's write lock on the shared connection would hold up every read behind it.
	const rows = <T>(sql: string, replacements?: Record<string, unknown>, tx?: Transaction): Promise<T[]> => {
		if (tx || config.dialect !== "sqlite" || READ_ONLY.test(sql)) return query<T>(sql, replacements, tx);
		const current = working.getStore() as (Transaction & { finished?: string }) | undefined;
		if (current && !current.finished)
			return Promise.reject(new Error(`a write inside a transaction of the ${schema} database must be given its tx`));
		return transaction(own => query<T>(sql, replacements, own));
	};

	const drain = async () => {
		closing = true;
		await Promise.race([Promise.all(inFlight), new Promise(resolve => setTimeout(resolve, 5000).unref())]);
	};

	return {
		sequelize,
		dialect: config.dialect,
		location,
		transaction,
		afterCommit,
		rows,
		lockFor: tx => (tx && config.dialect === "postgres" ? " FOR UPDATE" : ""),
		drain,
		close: () => drain().then(() => sequelize.close())
	};
}

/** A timestamp as the drivers return it (a Date on PostgreSQL, text on SQLite), in ISO form. */
export const toIso = (value: Date | string): string => new Date(value).toISOString();

/** True when a statement failed on a unique key (sku taken, event already stored, ...). */
export function isUniqueViolation(err: unknown): boolean {
	const e = err as { parent?: { code?: string; message?: string } } | undefined;
	// Sequelize reports every SQLite constraint failure (NOT NULL, CHECK) as a unique one.
	return e?.parent?.code === "23505" || (e?.parent?.code === "SQLITE_CONSTRAINT" && /UNIQUE constraint failed/.test(e.parent.message ?? ""));
}

/** SQL types that differ between the two dialects, for migrations. */
export function columnTypes(dialect: Dialect) {
	return dialect === "postgres"
		? { uuid: "UUID", timestamp: "TIMESTAMPTZ", bool: "BOOLEAN", bigId: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", json: "JSONB", text: "TEXT" }
		: { uuid: "TEXT", timestamp: "TEXT", bool: "INTEGER", bigId: "INTEGER PRIMARY KEY AUTOINCREMENT", json: "TEXT", text: "TEXT" };
}
