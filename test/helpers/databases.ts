/**
 * A fresh database per suite: a temporary SQLite path, or a new PostgreSQL database
 * named `pi_test_*` created next to TEST_POSTGRES_URL. Only databases this helper made
 * are ever dropped.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Client } from "pg";
import { POSTGRES_ENV, type TestDialect } from "./engines";

export interface TestDatabase {
	url: string;
	drop(): Promise<void>;
}

async function admin<T>(work: (client: Client) => Promise<T>): Promise<T> {
	const client = new Client({ connectionString: process.env[POSTGRES_ENV] });
	await client.connect();
	try {
		return await work(client);
	} finally {
		await client.end();
	}
}

export async function createTestDatabase(dialect: TestDialect): Promise<TestDatabase> {
	if (dialect === "sqlite") {
		const dir = mkdtempSync(join(tmpdir(), "pi-test-"));
		return { url: `sqlite:${join(dir, "inventory.sqlite")}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
	}
	const name = `pi_test_${randomBytes(6).toString("hex")}`;
	await admin(client => client.query(`CREATE DATABASE ${name}`));
	const url = new URL(process.env[POSTGRES_ENV]!);
	url.pathname = `/${name}`;
	return {
		url: url.toString(),
		drop: async () => {
			if (!/^pi_test_[0-9a-f]{12}$/.test(name)) throw new Error(`refusing to drop ${name}`);
			await admin(client => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
		}
	};
}
