/**
 * The db mixin starts a service only on a migrated database: a database that cannot be
 * reached yet is waited for, a migration that fails fails the start with its error (and
 * is not retried forever), and a stopping service closes its parts before the database.
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { ServiceBroker, type Service } from "moleculer";
import { describeWith, engineUrl, testDialects, POSTGRES_ENV } from "../helpers/engines";
import { createTestDatabase, type TestDatabase } from "../helpers/databases";
import { loadConfig } from "../../config/env";
import { createBrokerOptions } from "../../moleculer.config";
import { createDbMixin, type DbServiceThis } from "../../mixins/db.mixin";
import { PARTS, lifecycleOf } from "../../lib/lifecycle";
import { defineService } from "../../lib/schema";
import type { Migration } from "../../lib/migrator";

const notes: Migration = {
	version: 1,
	name: "notes",
	up: ctx => ctx.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
};
const broken: Migration = { version: 2, name: "broken", up: ctx => ctx.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY)") };

type This = Service & DbServiceThis;

function brokerOn(databaseUrl: string, migrations: Migration[], onStop: string[] = []): ServiceBroker {
	const config = loadConfig({ NODE_ENV: "test", LOG_LEVEL: "fatal", METRICS_PORT: "0", PORT: "0", DATABASE_URL: databaseUrl });
	const broker = new ServiceBroker(createBrokerOptions(config));
	broker.createService(
		defineService<This>({
			name: "notes",
			mixins: [createDbMixin({ migrations, table: "notes" })],
			actions: {
				async count(this: This) {
					const [row] = await this.db.rows<{ n: number | string }>("SELECT count(*) AS n FROM notes");
					return Number(row.n);
				}
			},
			created(this: This) {
				const lifecycle = lifecycleOf(this);
				for (const part of PARTS)
					lifecycle.add(part, { stop: () => this.db.rows("SELECT 1 AS ok").then(() => void onStop.push(part)) });
			}
		})
	);
	return broker;
}

describe.each(testDialects())("the db mixin on %s", dialect => {
	let db: TestDatabase;
	beforeEach(async () => {
		db = await createTestDatabase(dialect);
	});
	afterEach(() => db.drop());

	it("fails the start with the error of a migration that fails, and applies none of it", async () => {
		const failing = brokerOn(db.url, [notes, broken]);
		await expect(failing.start()).rejects.toThrow(/notes/);
		await failing.stop().catch(() => undefined);

		// The failed version left no trace: the next start, without it, finds version 1 applied once.
		const fixed = brokerOn(db.url, [notes]);
		await fixed.start();
		try {
			await expect(fixed.call("notes.count")).resolves.toBe(0);
		} finally {
			await fixed.stop();
		}
	});

	it("stops the service's parts, consumers first, while its database is still open", async () => {
		const stopped: string[] = [];
		const broker = brokerOn(db.url, [notes], stopped);
		await broker.start();
		await broker.stop();
		expect(stopped).toEqual(["consumers", "jobs", "publishers", "stores"]);
	});
});

/** A TCP door in front of PostgreSQL that slams its first `refusals` connections. */
async function flakyDoor(target: string, refusals: number): Promise<{ url: string; refused: () => number; close(): void }> {
	const { hostname, port } = new URL(target);
	let refused = 0;
	const sockets = new Set<Socket>();
	const server: Server = createServer(client => {
		sockets.add(client);
		if (refused < refusals) {
			refused++;
			client.destroy();
			return;
		}
		const upstream = connect(Number(port), hostname);
		sockets.add(upstream);
		client.pipe(upstream).pipe(client);
		client.on("error", () => upstream.destroy());
		upstream.on("error", () => client.destroy());
	});
	await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
	const url = new URL(target);
	url.hostname = "127.0.0.1";
	url.port = String((server.address() as AddressInfo).port);
	return {
		url: url.toString(),
		refused: () => refused,
		close: () => {
			for (const socket of sockets) socket.destroy();
			server.close();
		}
	};
}

describeWith(engineUrl(POSTGRES_ENV, "postgres://postgres@127.0.0.1:5432/test"))("the db mixin on an unreachable PostgreSQL", () => {
	it("waits for the database, then migrates and starts", async () => {
		const db = await createTestDatabase("postgres");
		const door = await flakyDoor(db.url, 3);
		const broker = brokerOn(door.url, [notes]);
		try {
			await broker.start();
			expect(door.refused()).toBe(3);
			await expect(broker.call("notes.count")).resolves.toBe(0);
		} finally {
			await broker.stop();
			door.close();
			await db.drop();
		}
	});
});
