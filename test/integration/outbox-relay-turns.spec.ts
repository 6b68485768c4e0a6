/**
 * Relays of several nodes share a service's outbox on PostgreSQL and take turns per pass
 * through an advisory lock: one whose turn it is not waits for the lock and then reads what
 * is left, instead of trying again and again while the other pass runs.
 */
import { randomUUID } from "node:crypto";
import { POSTGRES_ENV, describeWith, engineUrl } from "../helpers/engines";
import { createTestDatabase, type TestDatabase } from "../helpers/databases";
import { waitFor } from "../helpers/wait";
import { openDatabase, columnTypes, type Database } from "../../lib/database";
import { parseDatabase } from "../../config/env";
import { OutboxRelay, type Publish } from "../../lib/outbox-relay";
import { createOutboxTable } from "../../lib/shared-migrations";
import { buildEvent, type EventEnvelope } from "../../contracts/events";

describeWith(engineUrl(POSTGRES_ENV, "postgres://postgres@127.0.0.1:5432/test"))("relays taking turns on one outbox", () => {
	let testDb: TestDatabase;
	let db: Database;

	beforeAll(async () => {
		testDb = await createTestDatabase("postgres");
		db = openDatabase(parseDatabase(testDb.url), "turns");
		await db.sequelize.query("CREATE SCHEMA IF NOT EXISTS turns");
		await db.transaction(tx => createOutboxTable({ db, tx, dialect: "postgres", types: columnTypes("postgres"), exec: sql => db.sequelize.query(sql, { transaction: tx }).then(() => undefined) }));
	});
	afterAll(async () => {
		await db.close();
		await testDb.drop();
	});

	const append = (event: EventEnvelope) =>
		db.rows(
			`INSERT INTO outbox (id, topic, type, aggregate_id, envelope, pending, created_at) VALUES (:id, 'product-events', :type, :aggregateId, :envelope, '["audit"]', :at) RETURNING seq`,
			{ id: event.id, type: event.type, aggregateId: event.aggregateId, envelope: JSON.stringify(event), at: new Date().toISOString() }
		);
	const event = () => buildEvent("product.deleted", "test", randomUUID(), {} as never, { correlationId: randomUUID() });
	const relay = (publish: Publish) =>
		new OutboxRelay({ db, publish, countsTowardsParking: () => true, onPublishError: () => undefined, onPassError: err => { throw err; } });
	const waitingForTheLock = async () =>
		Number((await db.rows<{ n: string }>("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))[0].n) > 0;

	it("lets a pass wait for the other node's pass and deliver what that one left, in one pass", async () => {
		const first = event();
		await append(first);
		let open!: () => void;
		const gate = new Promise<void>(resolve => (open = resolve));
		const publishedBy: Record<string, string[]> = { a: [], b: [] };
		const a = relay(async e => {
			publishedBy.a.push(e.id);
			await gate;
		});
		const b = relay(async e => void publishedBy.b.push(e.id));
		const passOfA = a.pass();
		const second = event();
		let passOfB: Promise<number>;
		try {
			await waitFor(() => publishedBy.a.length === 1);
			// Written while a's pass runs, after it read the outbox.
			await append(second);
			passOfB = b.pass();
			await waitFor(waitingForTheLock);
		} finally {
			open();
		}
		await expect(passOfA).resolves.toBe(1);
		await expect(passOfB).resolves.toBe(1);
		expect(publishedBy).toEqual({ a: [first.id], b: [second.id] });
	});
});
