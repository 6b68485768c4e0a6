/**
 * The database wrapper's commit hooks run after a commit, never after a COMMIT that
 * failed (Sequelize's own afterCommit runs either way).
 */
import { engineUrl, POSTGRES_ENV, describeWith } from "../helpers/engines";
import { createTestDatabase, type TestDatabase } from "../helpers/databases";
import { openDatabase, type Database } from "../../mixins/database";
import { parseDatabase } from "../../config/env";

const postgres = engineUrl(POSTGRES_ENV, "postgres://postgres@127.0.0.1:5432/test");

describeWith(postgres)("commit hooks on PostgreSQL", () => {
	let testDb: TestDatabase;
	let db: Database;
	const warnings: unknown[][] = [];

	beforeAll(async () => {
		testDb = await createTestDatabase("postgres");
		db = openDatabase(parseDatabase(testDb.url), "hooks", { warn: (...args: unknown[]) => void warnings.push(args) });
		await db.sequelize.query("CREATE SCHEMA IF NOT EXISTS hooks");
		// Checked at COMMIT: a duplicate makes the COMMIT itself fail.
		await db.sequelize.query("CREATE TABLE hooks.marks (id INTEGER, CONSTRAINT marks_unique UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)");
	});

	afterAll(async () => {
		await db.close();
		await testDb.drop();
	});

	it("runs a hook after its transaction committed, before the transaction resolves", async () => {
		const ran: string[] = [];
		await db.transaction(async tx => {
			await db.rows("INSERT INTO marks (id) VALUES (1) RETURNING id", {}, tx);
			db.afterCommit(tx, () => ran.push("first"));
			db.afterCommit(tx, () => ran.push("second"));
		});
		expect(ran).toEqual(["first", "second"]);
	});

	it("never runs a hook when the COMMIT fails", async () => {
		const ran: string[] = [];
		await expect(
			db.transaction(async tx => {
				await db.rows("INSERT INTO marks (id) VALUES (2), (2) RETURNING id", {}, tx);
				db.afterCommit(tx, () => ran.push("hook"));
			})
		).rejects.toMatchObject({ parent: { code: "23505" } });
		expect(ran).toEqual([]);
	});

	it("keeps the work's success when a hook fails after the commit", async () => {
		const result = await db.transaction(async tx => {
			await db.rows("INSERT INTO marks (id) VALUES (3) RETURNING id", {}, tx);
			db.afterCommit(tx, () => {
				throw new Error("cache away");
			});
			return "done";
		});
		expect(result).toBe("done");
		expect(warnings).toEqual([[expect.stringContaining("After a commit"), "cache away"]]);
		await expect(db.rows("SELECT id FROM marks WHERE id = 3")).resolves.toHaveLength(1);
	});
});
