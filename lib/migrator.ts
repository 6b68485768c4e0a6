/**
 * Versioned schema migrations, one list per service. Each runs once, in order, inside
 * one transaction together with its row in `schema_migrations`; on PostgreSQL an
 * advisory lock makes nodes that start together take turns, so none migrates twice.
 */
import type { Transaction } from "sequelize";
import { columnTypes, type Database, type Dialect } from "./database";

export interface MigrationContext {
	db: Database;
	tx: Transaction;
	dialect: Dialect;
	types: ReturnType<typeof columnTypes>;
	/** Runs DDL/DML in the migration's transaction. */
	exec(sql: string): Promise<void>;
}

export interface Migration {
	version: number;
	name: string;
	up(ctx: MigrationContext): Promise<void>;
}

export interface MigrationResult {
	applied: Migration[];
	current: number;
}

export async function migrate(db: Database, migrations: Migration[]): Promise<MigrationResult> {
	const ordered = [...migrations].sort((a, b) => a.version - b.version);
	ordered.forEach((m, i) => {
		if (i > 0 && ordered[i - 1].version === m.version)
			throw new Error(`two migrations have version ${m.version}`);
	});
	const types = columnTypes(db.dialect);

	return db.transaction(async tx => {
		const exec = async (sql: string) => {
			await db.sequelize.query(sql, { transaction: tx });
		};
		if (db.dialect === "postgres") {
			await db.rows("SELECT pg_advisory_xact_lock(hashtext(:key))", { key: `migrations:${db.location}` }, tx);
			await exec(`CREATE SCHEMA IF NOT EXISTS "${db.location}"`);
		}
		await exec(
			`CREATE TABLE IF NOT EXISTS schema_migrations (
				version INTEGER PRIMARY KEY,
				name ${types.text} NOT NULL,
				applied_at ${types.timestamp} NOT NULL
			)`
		);
		const done = new Set(
			(await db.rows<{ version: number }>("SELECT version FROM schema_migrations", {}, tx)).map(r =>
				Number(r.version)
			)
		);
		const applied: Migration[] = [];
		for (const migration of ordered) {
			if (done.has(migration.version)) continue;
			await migration.up({ db, tx, dialect: db.dialect, types, exec });
			await db.sequelize.query(
				"INSERT INTO schema_migrations (version, name, applied_at) VALUES (:version, :name, :at)",
				{
					transaction: tx,
					replacements: { version: migration.version, name: migration.name, at: new Date().toISOString() }
				}
			);
			applied.push(migration);
		}
		const current = Math.max(0, ...done, ...applied.map(m => m.version));
		return { applied, current };
	});
}
