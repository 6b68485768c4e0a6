/**
 * The operators' REPL commands, typed into a real node's REPL (`server.ts --repl`, every
 * service embedded on SQLite, as `npm run repl` runs them). The data they show is made
 * over HTTP; what no request can make (an event the relay gave up on, a creation whose
 * node died) is written into the services' own SQLite files, as a crash would leave it.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDatabase } from "../../config/env";
import { openDatabase, type Database } from "../../lib/database";
import { freePort } from "../../scripts/cluster-nodes";
import { httpClient } from "../helpers/http";
import { TEST_API_KEY } from "../helpers/nodes";
import { startReplNode, type ReplNode } from "../helpers/repl";
import { waitFor } from "../helpers/wait";

describe("operators' REPL commands on a node started with --repl", () => {
	let dir: string;
	let node: ReplNode;
	let baseUrl: string;
	let databaseUrl: string;
	const request = httpClient(() => baseUrl);

	beforeAll(async () => {
		dir = mkdtempSync(join(tmpdir(), "pi-repl-"));
		databaseUrl = `sqlite:${join(dir, "inventory.sqlite")}`;
		const port = await freePort();
		baseUrl = `http://127.0.0.1:${port}`;
		node = await startReplNode({
			DATABASE_URL: databaseUrl,
			PORT: String(port),
			METRICS_PORT: String(await freePort()),
			METRICS_HOST: "127.0.0.1",
			API_KEYS: `tester:${TEST_API_KEY}`
		});
	}, 180_000);

	afterAll(async () => {
		await node?.stop();
		rmSync(dir, { recursive: true, force: true });
	}, 60_000);

	/** A product whose stock record exists (made by its product.created event). */
	async function product(fields: { name: string; stock: number; lowStockThreshold: number }): Promise<{ id: string; sku: string }> {
		const created = await request("POST", "/api/v1/products", { body: { price: 4.5, ...fields } });
		expect(created.status).toBe(201);
		await waitFor(async () => (await request("GET", `/api/v1/inventory/${created.body.id}`)).status === 200);
		return created.body;
	}

	/** One service's database, opened beside the node's own connection to the same file. */
	async function withDatabase<T>(service: string, work: (db: Database) => Promise<T>): Promise<T> {
		const db = openDatabase(parseDatabase(databaseUrl), service);
		try {
			return await work(db);
		} finally {
			await db.close();
		}
	}

	const noStack = (output: string) => expect(output).not.toMatch(/\n\s+at /);

	it("stock prints a product's on-hand, reserved and available units and its threshold", async () => {
		const lamp = await product({ name: "Desk Lamp", stock: 10, lowStockThreshold: 3 });
		expect((await request("POST", "/api/v1/purchases", { body: { items: [{ productId: lamp.id, quantity: 3 }] } })).status).toBe(201);

		const output = await node.run(`stock ${lamp.id}`);
		expect(output).toContain(`Stock of Desk Lamp (${lamp.sku}) ${lamp.id}`);
		expect(output).toMatch(/on hand\s+10\n/);
		expect(output).toMatch(/reserved\s+3\n/);
		expect(output).toMatch(/available\s+7\n/);
		expect(output).toMatch(/threshold\s+3\n/);
	});

	it("stock answers an unknown product and a malformed id with one line each, no stack", async () => {
		const unknown = randomUUID();
		const notFound = await node.run(`stock ${unknown}`);
		expect(notFound).toBe(`Error: No stock record for product ${unknown}.`);
		const malformed = await node.run("stock 42");
		expect(malformed).toBe("Error: Invalid input: The 'productId' field must be a valid UUID.");
		noStack(notFound + malformed);
	});

	it("low-stock lists the products at or below their threshold, least available first, and no other", async () => {
		const scarce = await product({ name: "Scarce Bolt", stock: 1, lowStockThreshold: 5 });
		const short = await product({ name: "Short Nut", stock: 4, lowStockThreshold: 5 });
		const plenty = await product({ name: "Plenty Washer", stock: 50, lowStockThreshold: 5 });

		const output = await node.run("low-stock");
		const lines = output.split("\n");
		const row = (id: string) => lines.findIndex(line => line.startsWith(id));
		expect(lines[0]).toMatch(/^\d+ products? low on stock:$/);
		expect(lines[1]).toMatch(/^product\s+sku\s+name\s+on hand\s+reserved\s+available\s+threshold$/);
		expect(lines[row(scarce.id)]).toMatch(new RegExp(`^${scarce.id}\\s+${scarce.sku}\\s+Scarce Bolt\\s+1\\s+0\\s+1\\s+5$`));
		expect(lines[row(short.id)]).toMatch(new RegExp(`^${short.id}\\s+${short.sku}\\s+Short Nut\\s+4\\s+0\\s+4\\s+5$`));
		expect(row(scarce.id)).toBeLessThan(row(short.id));
		expect(row(plenty.id)).toBe(-1);
		expect(await node.run(`stock ${scarce.id}`)).toMatch(/threshold\s+5 \(LOW STOCK\)\n/);
	});

	it("purchase prints a purchase, its items and inventory's reservation for it, as it moves on", async () => {
		const bulb = await product({ name: "Bulb", stock: 20, lowStockThreshold: 2 });
		const created = await request("POST", "/api/v1/purchases", { body: { items: [{ productId: bulb.id, quantity: 4 }], customerId: "c-7" } });
		const id = created.body.id as string;

		const pending = await node.run(`purchase ${id}`);
		expect(pending).toContain(`Purchase ${id}`);
		expect(pending).toMatch(/status\s+PENDING\n/);
		expect(pending).toMatch(/total\s+18 EUR\n/);
		expect(pending).toMatch(/customer\s+c-7\n/);
		expect(pending).toMatch(new RegExp(`\\n${bulb.id}\\s+${bulb.sku}\\s+Bulb\\s+4\\s+4.5\\s+18\\n`));
		expect(pending).toMatch(new RegExp(`Reservation ${id}: HELD `));
		expect(pending).toMatch(new RegExp(`\\n${bulb.id}\\s+4$`));

		expect((await request("POST", `/api/v1/purchases/${id}/cancel`, { body: { reason: "changed my mind" } })).status).toBe(200);
		const cancelled = await node.run(`purchase ${id}`);
		expect(cancelled).toMatch(/status\s+CANCELLED \(changed my mind\)\n/);
		expect(cancelled).toMatch(new RegExp(`Reservation ${id}: RELEASED `));

		const unknown = randomUUID();
		expect(await node.run(`purchase ${unknown}`)).toBe(`Error: Purchase ${unknown} was not found.`);
	});

	it("outbox and parked show what waits in each outbox, the oldest waiting event's age, and the events given up on", async () => {
		const [waiting, fresh, given] = [randomUUID(), randomUUID(), randomUUID()];
		const ago = (hours: number) => new Date(Date.now() - hours * 3600_000).toISOString();
		const inADay = new Date(Date.now() + 24 * 3600_000).toISOString();
		const parkedAt = ago(2);
		const envelope = (id: string) => JSON.stringify({ id, type: "product.updated", version: 1, aggregateId: id, payload: {} });
		const owed = (id: string, at: string) => ({ id, envelope: envelope(id), at, next: inADay });
		await withDatabase("products", db =>
			db.transaction(async tx => {
				// Two still owed to a consumer and backing off until tomorrow (an hour old and new); an older one the relay parked.
				for (const row of [owed(waiting, ago(1)), owed(fresh, ago(0))])
					await db.rows(
						`INSERT INTO outbox (id, topic, type, aggregate_id, envelope, pending, created_at, attempts, next_attempt_at, last_error)
						 VALUES (:id, 'product-events', 'product.updated', :id, :envelope, '["inventory"]', :at, 3, :next, 'inventory refused it') RETURNING id`,
						row,
						tx
					);
				await db.rows(
					`INSERT INTO outbox (id, topic, type, aggregate_id, envelope, pending, created_at, attempts, last_error, parked_at)
					 VALUES (:id, 'product-events', 'product.updated', :id, :envelope, '["audit"]', :at, 20, 'audit refused it: bad payload', :at) RETURNING id`,
					{ id: given, envelope: envelope(given), at: parkedAt },
					tx
				);
			})
		);

		const outbox = await node.run("outbox");
		const lines = outbox.split("\n");
		expect(lines[0]).toMatch(/^service\s+nodes\s+pending\s+oldest\s+parked$/);
		expect(lines.find(l => l.startsWith("products"))).toMatch(/^products\s+\S+\s+2\s+60 min\s+1$/);
		expect(lines.find(l => l.startsWith("inventory"))).toMatch(/^inventory\s+\S+\s+\d+\s+\S.*\s+0$/);
		expect(lines.find(l => l.startsWith("purchases"))).toMatch(/^purchases\s+\S+\s+\d+/);

		const parked = await node.run("parked");
		expect(parked).toContain("Parked outbox events (newest first):");
		expect(parked).toMatch(new RegExp(`\\nproducts\\s+${given}\\s+product.updated\\s+${given}\\s+20\\s+${parkedAt}\\s+audit refused it: bad payload\\n`));
		expect(parked).not.toContain(waiting);
		expect(parked).not.toContain(fresh);
		expect(parked).toContain("Dead letters per consumer (events_parked_total, since each node started):");
		expect(parked).toMatch(/\naudit\s+0\n/);
		expect(parked).toMatch(/\ninventory\s+0$/);
	});

	it("sweep runs the sweeper now and says what it did; a creation stuck since its node died is repaired", async () => {
		const stuck = randomUUID();
		const now = new Date().toISOString();
		// A row written, then its node died before it reserved anything.
		await withDatabase("purchases", db =>
			db.rows(
				`INSERT INTO purchases (id, status, reservation_state, items, total_cents, currency, request_hash, expires_at, created_at, updated_at)
				 VALUES (:id, 'PENDING', 'RESERVING', '[]', 0, 'EUR', :hash, :now, :now, :now) RETURNING id`,
				{ id: stuck, hash: "0".repeat(64), now }
			)
		);
		expect(await node.run("sweep --grace 0")).toBe("Swept: 0 overdue purchases expired, 1 stuck creation repaired, 0 orphan reservations released.");
		expect(await node.run(`purchase ${stuck}`)).toBe(`Error: Purchase ${stuck} was not found.`);
		expect(await node.run("sweep")).toBe("Swept: 0 overdue purchases expired, 0 stuck creations repaired, 0 orphan reservations released.");
		expect(await node.run("sweep --grace soon")).toBe('Error: --grace must be a whole number of seconds, not "soon".');
	});

	it("cache-clean removes a service's cached answers, and names the services when given an unknown one", async () => {
		const cached = await product({ name: "Cached Hook", stock: 3, lowStockThreshold: 1 });
		expect((await request("GET", `/api/v1/products/${cached.id}`)).status).toBe(200);

		expect(await node.run("cache-clean products")).toMatch(
			/^Cleaned the cache of products: [1-9]\d* entr(y|ies) removed here \(PolicyMemoryCacher\); every node was told to drop its copies \(cache\.clean\.products\)\.$/
		);
		expect(await node.run("cache-clean products")).toMatch(/^Cleaned the cache of products: 0 entries removed here/);
		const unknown = await node.run("cache-clean warehouse");
		expect(unknown).toBe('Error: unknown service "warehouse"; running: api, audit, inventory, products, purchases.');
		noStack(unknown);
	});
});
