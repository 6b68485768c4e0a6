/**
 * The database wrapper's commit hooks run after a commit, never after a COMMIT that
 * failed (Sequelize's own afterCommit runs either way), and outside the SQLite turn;
 * every SQLite connection waits for another writer instead of failing at once.
 */
import { testDialects } from "../helpers/engines";
import { createTestDatabase, type TestDatabase } from "../helpers/databases";
import { openDatabase, type Database } from "../../lib/database";
import { parseDatabase } from "../../config/env";
import { waitFor } from "../helpers/wait";

describe.each(testDialects())("commit hooks on %s", dialect => {
	let testDb: TestDatabase;
	let db: Database;
	const warnings: unknown[][] = [];

	beforeAll(async () => {
		testDb = await createTestDatabase(dialect);
		db = openDatabase(parseDatabase(testDb.url), "hooks", { warn: (...args: unknown[]) => void warnings.push(args) });
		if (dialect === "postgres") await db.sequelize.query("CREATE SCHEMA IF NOT EXISTS hooks");
		// On PostgreSQL the unique key is checked at COMMIT: a duplicate makes the COMMIT itself fail.
		const deferred = dialect === "postgres" ? " DEFERRABLE INITIALLY DEFERRED" : "";
		await db.sequelize.query(`CREATE TABLE marks (id INTEGER, CONSTRAINT marks_unique UNIQUE (id)${deferred})`);
	});

	afterAll(async () => {
		await db.close();
		await testDb.drop();
	});

	it("runs a transaction's hooks in order after it committed, before the transaction resolves", async () => {
		const ran: string[] = [];
		await db.transaction(async tx => {
			await db.rows("INSERT INTO marks (id) VALUES (1) RETURNING id", {}, tx);
			db.afterCommit(tx, () => ran.push("first"));
			db.afterCommit(tx, () => ran.push("second"));
			expect(ran).toEqual([]);
		});
		expect(ran).toEqual(["first", "second"]);
	});

	it("lets the next transaction run while a hook is still working (on SQLite too)", async () => {
		let finishHook!: () => void;
		const slowHookDone = db.transaction(async tx => {
			await db.rows("INSERT INTO marks (id) VALUES (10) RETURNING id", {}, tx);
			db.afterCommit(tx, () => new Promise<void>(resolve => (finishHook = resolve)));
		});
		await expect(db.transaction(tx => db.rows("INSERT INTO marks (id) VALUES (11) RETURNING id", {}, tx))).resolves.toHaveLength(1);
		finishHook();
		await slowHookDone;
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

	it("refuses a hook on a transaction it did not open", async () => {
		const foreign = await db.sequelize.transaction();
		try {
			expect(() => db.afterCommit(foreign, () => undefined)).toThrow(/afterCommit needs a transaction opened by/);
		} finally {
			await foreign.rollback();
		}
	});

	if (dialect === "postgres")
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
});

describe("SQLite connections", () => {
	let testDb: TestDatabase;
	let db: Database;

	beforeAll(async () => {
		testDb = await createTestDatabase("sqlite");
		db = openDatabase(parseDatabase(testDb.url), "waits");
	});
	afterAll(async () => {
		await db.close();
		await testDb.drop();
	});

	// A statement that finds another writer holding the file waits this long before SQLITE_BUSY;
	// each transaction has a connection of its own, opened for it.
	it("wait up to 10 s for another writer, outside and inside transactions", async () => {
		await expect(db.rows("PRAGMA busy_timeout")).resolves.toEqual([{ timeout: 10_000 }]);
		await db.transaction(async tx => {
			await expect(db.rows("PRAGMA busy_timeout", {}, tx)).resolves.toEqual([{ timeout: 10_000 }]);
		});
	});
});

describe("SQLite writes outside a transaction", () => {
	let testDb: TestDatabase;
	let db: Database;

	beforeAll(async () => {
		testDb = await createTestDatabase("sqlite");
		db = openDatabase(parseDatabase(testDb.url), "turns");
		await db.sequelize.query("CREATE TABLE notes (id INTEGER PRIMARY KEY)");
		await db.rows("INSERT INTO notes (id) VALUES (0) RETURNING id");
	});
	afterAll(async () => {
		await db.close();
		await testDb.drop();
	});

	it("wait for the transaction holding the writers' turn, while reads go on", async () => {
		let finish!: () => void;
		const held = db.transaction(async tx => {
			await db.rows("INSERT INTO notes (id) VALUES (1) RETURNING id", {}, tx);
			await new Promise<void>(resolve => (finish = resolve));
		});
		await waitFor(() => finish !== undefined);
		let written = false;
		const write = db.rows("INSERT INTO notes (id) VALUES (2) RETURNING id").then(rows => ((written = true), rows));
		// A read is answered at once, from the last commit, while the write waits its turn.
		await expect(db.rows("SELECT id FROM notes ORDER BY id")).resolves.toEqual([{ id: 0 }]);
		expect(written).toBe(false);
		finish();
		await held;
		await expect(write).resolves.toEqual([{ id: 2 }]);
		await expect(db.rows("SELECT id FROM notes ORDER BY id")).resolves.toEqual([{ id: 0 }, { id: 1 }, { id: 2 }]);
	});

	it("are refused inside a transaction's work, which must pass its tx, instead of waiting for its own turn", async () => {
		await expect(
			db.transaction(async () => {
				await db.rows("INSERT INTO notes (id) VALUES (3) RETURNING id");
			})
		).rejects.toThrow(/must be given its tx/);
		await expect(db.rows("SELECT count(*) AS n FROM notes WHERE id = 3")).resolves.toEqual([{ n: 0 }]);
	});
});
