import { Errors } from "moleculer";
import { randomUUID } from "node:crypto";
import { testDialects } from "../helpers/engines";
import { concurrencyTitle, useNode } from "../helpers/suite";
import { waitFor } from "../helpers/wait";
import { catalog } from "../helpers/catalog";
import { delivered, outboxOf, outboxesDrained } from "../helpers/outbox";
import { auditSearch, auditTrail } from "../helpers/audit";
import { TestSession } from "../helpers/postgres";
import type { Purchase } from "../../services/purchases/purchases.domain";
import type { AuditEntry, AuditStore } from "../../services/audit/audit.domain";
import type { Page } from "../../lib/params";
import type { DbServiceThis } from "../../mixins/db.mixin";
import type { OutboxThis } from "../../mixins/outbox.mixin";
import type { CreationCommits } from "../../services/purchases/purchases.creation";
import { buildEvent } from "../../contracts/events";

/** The units of a product in the purchases that ended in `status`. */
const unitsIn = (purchases: Purchase[], status: Purchase["status"], productId: string) =>
	purchases
		.filter(p => p.status === status)
		.flatMap(p => p.items)
		.filter(i => i.productId === productId)
		.reduce((sum, i) => sum + i.quantity, 0);

describe.each(testDialects())("purchases on %s", dialect => {
	const suite = useNode(dialect);
	const { call, productWithStock, stock, ledger, expectConsistent } = catalog(() => suite.node.broker);
	const buy = (items: { productId: string; quantity: number }[], meta: Record<string, unknown> = {}, customerId?: string) =>
		suite.node.broker.call("purchases.create", { items, ...(customerId ? { customerId } : {}) }, { meta }) as Promise<Purchase>;
	const settled = (productId: string, expected: { onHand: number; reserved: number }) =>
		waitFor(async () => {
			const s = await stock(productId);
			return s.onHand === expected.onHand && s.reserved === expected.reserved && s;
		});

	it("prices a purchase from the catalog, exactly, and reserves its stock", async () => {
		const mug = await productWithStock(10, { price: 19.99 });
		const pen = await productWithStock(5, { price: 0.1 });
		const purchase = await buy([
			{ productId: mug.id, quantity: 3 },
			{ productId: pen.id, quantity: 3 }
		]);
		expect(purchase).toMatchObject({ status: "PENDING", total: 60.27, currency: "EUR" });
		expect(purchase.items).toEqual([
			{ productId: mug.id, sku: mug.sku, name: mug.name, quantity: 3, unitPrice: 19.99, lineTotal: 59.97 },
			{ productId: pen.id, sku: pen.sku, name: pen.name, quantity: 3, unitPrice: 0.1, lineTotal: 0.3 }
		]);
		await expect(stock(mug.id)).resolves.toMatchObject({ onHand: 10, reserved: 3, available: 7 });
		await expect(call("purchases.get", { id: purchase.id })).resolves.toEqual(purchase);
		await expectConsistent(mug.id);
	});

	it("confirms, then completes; the reservation becomes a sale", async () => {
		const product = await productWithStock(10);
		const purchase = await buy([{ productId: product.id, quantity: 4 }]);
		await expect(call("purchases.confirm", { id: purchase.id })).resolves.toMatchObject({ status: "CONFIRMED", confirmedAt: expect.any(String) });
		await settled(product.id, { onHand: 6, reserved: 0 });
		await expect(call("purchases.complete", { id: purchase.id })).resolves.toMatchObject({ status: "COMPLETED", completedAt: expect.any(String) });
		const entries = await ledger(product.id);
		expect(entries.map(m => [m.reason, m.delta, m.reference])).toEqual([
			["INITIAL", 10, null],
			["RESERVE", 4, purchase.id],
			["SALE", -4, purchase.id]
		]);
		await expectConsistent(product.id);
	});

	it("releases the reservation of a cancelled PENDING purchase and returns the stock of a cancelled CONFIRMED one", async () => {
		const product = await productWithStock(10);
		const pending = await buy([{ productId: product.id, quantity: 2 }]);
		await expect(call("purchases.cancel", { id: pending.id, reason: "changed my mind" })).resolves.toMatchObject({
			status: "CANCELLED",
			cancelReason: "changed my mind"
		});
		await settled(product.id, { onHand: 10, reserved: 0 });

		const confirmed = await buy([{ productId: product.id, quantity: 3 }]);
		await call("purchases.confirm", { id: confirmed.id });
		await settled(product.id, { onHand: 7, reserved: 0 });
		await call("purchases.cancel", { id: confirmed.id });
		await settled(product.id, { onHand: 10, reserved: 0 });
		expect((await ledger(product.id)).map(m => m.reason)).toEqual(["INITIAL", "RESERVE", "RELEASE", "RESERVE", "SALE", "RETURN"]);
		await expectConsistent(product.id);
	});

	it("frees the stock before a cancel answers, so the freed units can be bought at once; the events that follow change nothing", async () => {
		const product = await productWithStock(3);
		// No purchase event reaches inventory until the end: only the cancel itself can free the stock.
		const relay = (suite.node.broker.getLocalService("purchases") as unknown as OutboxThis).outboxRelay;
		await relay.stop();
		try {
			const pending = await buy([{ productId: product.id, quantity: 3 }]);
			await call("purchases.cancel", { id: pending.id });
			await expect(stock(product.id)).resolves.toMatchObject({ onHand: 3, reserved: 0 });

			// Confirmed, its sale not applied yet: the cancel sells and returns it.
			const confirmed = await buy([{ productId: product.id, quantity: 3 }]);
			await call("purchases.confirm", { id: confirmed.id });
			await call("purchases.cancel", { id: confirmed.id });
			await expect(stock(product.id)).resolves.toMatchObject({ onHand: 3, reserved: 0 });

			const last = await buy([{ productId: product.id, quantity: 3 }]);
			await call("purchases.cancel", { id: last.id });
		} finally {
			relay.start();
		}
		await outboxesDrained(suite.node.broker);
		await expect(stock(product.id)).resolves.toMatchObject({ onHand: 3, reserved: 0 });
		expect((await ledger(product.id)).map(m => m.reason)).toEqual(["INITIAL", "RESERVE", "RELEASE", "RESERVE", "SALE", "RETURN", "RESERVE", "RELEASE"]);
		await expectConsistent(product.id);
	});

	it("refuses every other transition with 409 naming the current status", async () => {
		const product = await productWithStock(10);
		const purchase = await buy([{ productId: product.id, quantity: 1 }]);
		await expect(call("purchases.complete", { id: purchase.id })).rejects.toMatchObject({
			code: 409,
			type: "INVALID_TRANSITION",
			data: { status: "PENDING" }
		});
		await call("purchases.confirm", { id: purchase.id });
		await expect(call("purchases.confirm", { id: purchase.id })).rejects.toMatchObject({ code: 409, data: { status: "CONFIRMED" } });
		await call("purchases.complete", { id: purchase.id });
		await expect(call("purchases.cancel", { id: purchase.id })).rejects.toMatchObject({ code: 409, data: { status: "COMPLETED" } });
		const cancelled = await buy([{ productId: product.id, quantity: 1 }]);
		await call("purchases.cancel", { id: cancelled.id });
		for (const action of ["confirm", "cancel", "complete"])
			await expect(call(`purchases.${action}`, { id: cancelled.id })).rejects.toMatchObject({ code: 409, data: { status: "CANCELLED" } });
		await expect(call("purchases.confirm", { id: randomUUID() })).rejects.toMatchObject({ code: 404, type: "PURCHASE_NOT_FOUND" });
	});

	it(concurrencyTitle(dialect, "sells exactly the stock there is to 200 concurrent buyers"), async () => {
		const product = await productWithStock(50);
		const results = await Promise.allSettled(Array.from({ length: 200 }, () => buy([{ productId: product.id, quantity: 1 }])));
		const won = results.filter(r => r.status === "fulfilled");
		const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
		expect(won).toHaveLength(50);
		expect(new Set(lost.map(r => `${r.reason.code} ${r.reason.type}`))).toEqual(new Set(["409 INSUFFICIENT_STOCK"]));
		const s = await expectConsistent(product.id);
		expect(s).toMatchObject({ onHand: 50, reserved: 50, available: 0 });
		const pending = await call<Page<Purchase>>("purchases.list", { status: "PENDING", pageSize: 100 });
		expect(pending.items.filter(p => p.items[0].productId === product.id)).toHaveLength(50);
	});

	it("reserves all items or none, naming the items short", async () => {
		const plenty = await productWithStock(5);
		const scarce = await productWithStock(1);
		await expect(
			buy([
				{ productId: plenty.id, quantity: 2 },
				{ productId: scarce.id, quantity: 2 }
			])
		).rejects.toMatchObject({
			code: 409,
			type: "INSUFFICIENT_STOCK",
			data: { items: [{ productId: scarce.id, requested: 2, available: 1 }] }
		});
		await expect(stock(plenty.id)).resolves.toMatchObject({ reserved: 0 });
		await expect(stock(scarce.id)).resolves.toMatchObject({ reserved: 0 });
		const all = await call<Page<Purchase>>("purchases.list", { pageSize: 100 });
		expect(all.items.some(p => p.items.some(i => i.productId === scarce.id))).toBe(false);
	});

	it("answers 422 for unknown or inactive products and malformed items", async () => {
		const active = await productWithStock(5);
		const inactive = await productWithStock(5, { active: false });
		const unknown = randomUUID();
		await expect(buy([{ productId: unknown, quantity: 1 }, { productId: inactive.id, quantity: 1 }])).rejects.toMatchObject({
			code: 422,
			data: [
				{ field: "items[0].productId", message: expect.stringContaining("does not exist") },
				{ field: "items[1].productId", message: expect.stringContaining("not for sale") }
			]
		});
		for (const items of [
			[],
			[{ productId: active.id, quantity: 0 }],
			[{ productId: active.id, quantity: 10_001 }],
			[{ productId: active.id, quantity: 1.5 }],
			[{ productId: active.id, quantity: 1, price: 0.01 }],
			[{ productId: active.id, quantity: 1 }, { productId: active.id, quantity: 1 }],
			Array.from({ length: 101 }, () => ({ productId: randomUUID(), quantity: 1 }))
		])
			await expect(buy(items)).rejects.toMatchObject({ code: 422 });
		await expect(stock(active.id)).resolves.toMatchObject({ reserved: 0 });
	});

	it("answers the same purchase to the same Idempotency-Key and body, reserving once", async () => {
		const product = await productWithStock(10);
		const meta = { idempotencyKey: `order-${randomUUID()}`, user: { name: "shop" } };
		const items = [{ productId: product.id, quantity: 2 }];
		const [first, second] = await Promise.all([buy(items, meta), buy(items, meta)].map(p => p.catch(e => e)));
		const firstOk = "id" in first ? first : second;
		const again = await buy(items, meta);
		expect(again.id).toBe(firstOk.id);
		expect(again.idempotencyKey).toBe(meta.idempotencyKey);
		await expect(stock(product.id)).resolves.toMatchObject({ reserved: 2 });
		await expect(buy([{ productId: product.id, quantity: 3 }], meta)).rejects.toMatchObject({ code: 422 });
		// Another caller's identical key is another purchase.
		const other = await buy(items, { ...meta, user: { name: "ops" } });
		expect(other.id).not.toBe(firstOk.id);
		await expect(stock(product.id)).resolves.toMatchObject({ reserved: 4 });
	});

	it("writes concurrent creations in shared statements, each row once with its one purchase.created, one purchase per key", async () => {
		const product = await productWithStock(100);
		const purchases = suite.node.broker.getLocalService("purchases") as unknown as DbServiceThis;
		const statements: string[] = [];
		const realRows = purchases.db.rows;
		purchases.db.rows = ((sql: string, ...rest: unknown[]) => {
			statements.push(sql);
			return (realRows as (...args: unknown[]) => unknown)(sql, ...rest);
		}) as typeof realRows;
		const items = [{ productId: product.id, quantity: 1 }];
		const twice = { idempotencyKey: `order-${randomUUID()}`, user: { name: "shop" } };
		let made: Purchase[];
		try {
			made = await Promise.all([...Array.from({ length: 38 }, () => buy(items)), buy(items, twice), buy(items, twice)]);
		} finally {
			purchases.db.rows = realRows;
		}
		const ids = new Set(made.map(p => p.id));
		expect(ids.size).toBe(39);
		expect(made[38].id).toBe(made[39].id);
		const inserts = statements.filter(sql => sql.trimStart().startsWith("INSERT INTO purchases")).length;
		// The inserts come together (after the catalog answered each); the marks come as inventory's reservations finish.
		expect(inserts).toBeLessThan(40);
		await expect(stock(product.id)).resolves.toMatchObject({ reserved: 39 });
		const created = (await outboxOf(suite.node.broker, "purchases")).filter(row => row.type === "purchase.created" && ids.has(row.aggregate_id));
		expect(created.map(row => row.aggregate_id).sort()).toEqual([...ids].sort());
		for (const id of ids) await expect(call("purchases.get", { id })).resolves.toMatchObject({ id, status: "PENDING" });
		await expectConsistent(product.id);
	});

	it("announces a row two requests finish in one batch once: the second finds it marked", async () => {
		const purchases = suite.node.broker.getLocalService("purchases") as unknown as DbServiceThis & { creationCommits: CreationCommits };
		const now = new Date().toISOString();
		const reserving = async () => {
			const id = randomUUID();
			await purchases.db.rows(
				`INSERT INTO purchases (id, status, reservation_state, items, total_cents, currency, request_hash, expires_at, created_at, updated_at)
				 VALUES (:id, 'PENDING', 'RESERVING', '[]', 0, 'EUR', :hash, :now, :now, :now) RETURNING id`,
				{ id, hash: "0".repeat(64), now }
			);
			return id;
		};
		const announcement = (id: string) => ({ id, event: buildEvent("purchase.created", "purchases", id, { purchaseId: id } as never, { correlationId: id }) });
		const [first, second, twin] = [await reserving(), await reserving(), await reserving()];
		const { announce } = purchases.creationCommits;
		// Two batches under way (the most at once): both announcements of the twin wait for the next, together.
		const answers = await Promise.all([announce.add(announcement(first)), announce.add(announcement(second)), announce.add(announcement(twin)), announce.add(announcement(twin))]);
		expect(answers).toEqual([true, true, true, false]);
		const created = (await outboxOf(suite.node.broker, "purchases")).filter(row => row.type === "purchase.created" && row.aggregate_id === twin);
		expect(created).toHaveLength(1);
	});

	it("repairs a purchase that crashed between its steps", async () => {
		const product = await productWithStock(10);
		const purchases = suite.node.broker.getLocalService("purchases") as unknown as DbServiceThis;
		// A row written, its reservation made, and then the process died before marking it.
		const id = randomUUID();
		const now = new Date().toISOString();
		await purchases.db.rows(
			`INSERT INTO purchases (id, status, reservation_state, items, total_cents, currency, request_hash, expires_at, created_at, updated_at)
			 VALUES (:id, 'PENDING', 'RESERVING', '[]', 0, 'EUR', :hash, :now, :now, :now) RETURNING id`,
			{ id, hash: "0".repeat(64), now }
		);
		await call("inventory.reserve", { reservationId: id, items: [{ productId: product.id, quantity: 3 }] });
		await expect(stock(product.id)).resolves.toMatchObject({ reserved: 3 });

		// The release fails (inventory away): the row is abandoned, so a late create can no longer mark it reserved.
		const broker = suite.node.broker;
		const realCall = broker.call.bind(broker);
		broker.call = ((action: string, ...rest: unknown[]) =>
			action === "inventory.release"
				? Promise.reject(new Errors.ServiceNotAvailableError({ action, nodeID: broker.nodeID }))
				: (realCall as (...args: unknown[]) => unknown)(action, ...rest)) as typeof broker.call;
		try {
			await expect(call("purchases.sweep", { reservingGraceMs: 0 })).resolves.toMatchObject({ repaired: 0 });
		} finally {
			broker.call = realCall;
		}
		const [late] = await purchases.db.rows("UPDATE purchases SET reservation_state = 'RESERVED' WHERE id = :id AND reservation_state = 'RESERVING' RETURNING id", { id });
		expect(late).toBeUndefined();
		await expect(stock(product.id)).resolves.toMatchObject({ reserved: 3 });
		// The next sweep releases the stock, then the row goes. The node's own sweeper (every few
		// seconds) may be the one that gets there first, so this sweep repairs it or finds it gone.
		await call("purchases.sweep", { reservingGraceMs: 0 });
		await expect(stock(product.id)).resolves.toMatchObject({ reserved: 0 });
		await expect(call("purchases.get", { id })).rejects.toMatchObject({ code: 404 });
		// A reserve arriving after the repair is refused: it cannot leave stock held.
		await expect(call("inventory.reserve", { reservationId: id, items: [{ productId: product.id, quantity: 3 }] })).rejects.toMatchObject({
			code: 409,
			type: "RESERVATION_CLOSED"
		});
		await expectConsistent(product.id);
	});

	it("answers a retried reservation that took the last units as held, not as a shortage", async () => {
		const product = await productWithStock(3);
		const reservationId = randomUUID();
		const items = [{ productId: product.id, quantity: 3 }];
		await expect(call("inventory.reserve", { reservationId, items })).resolves.toEqual({ reservationId, status: "HELD" });
		await expect(call("inventory.reserve", { reservationId, items })).resolves.toEqual({ reservationId, status: "HELD" });
		await expect(call("inventory.reserve", { reservationId: randomUUID(), items })).rejects.toMatchObject({ type: "INSUFFICIENT_STOCK" });
		await call("inventory.release", { reservationId });
		await expect(call("inventory.reserve", { reservationId, items: [{ productId: product.id, quantity: 4 }] })).rejects.toMatchObject({
			type: "RESERVATION_CLOSED"
		});
		await expect(stock(product.id)).resolves.toMatchObject({ onHand: 3, reserved: 0 });
		await expectConsistent(product.id);
	});

	it("releases a reservation made before it, and refuses with 409 RESERVATION_CLOSED a reserve that comes after its release", async () => {
		const product = await productWithStock(10);
		const items = [{ productId: product.id, quantity: 2 }];
		const first = randomUUID();
		await expect(call("inventory.reserve", { reservationId: first, items })).resolves.toEqual({ reservationId: first, status: "HELD" });
		await expect(call("inventory.release", { reservationId: first })).resolves.toEqual({ reservationId: first, status: "RELEASED" });
		const late = randomUUID();
		await expect(call("inventory.release", { reservationId: late })).resolves.toEqual({ reservationId: late, status: "RELEASED" });
		await expect(call("inventory.reserve", { reservationId: late, items })).rejects.toMatchObject({ code: 409, type: "RESERVATION_CLOSED" });
		expect((await ledger(product.id)).map(m => [m.reason, m.delta, m.reference])).toEqual([
			["INITIAL", 10, null],
			["RESERVE", 2, first],
			["RELEASE", -2, first]
		]);
		await expect(stock(product.id)).resolves.toMatchObject({ onHand: 10, reserved: 0 });
		await expectConsistent(product.id);
	});

	// On SQLite the two transactions take turns: a release never meets a reserve still committing there.
	if (dialect === "postgres")
		it("settles the reservation of a reserve of the same id that was still committing when the release began", async () => {
			const product = await productWithStock(10);
			const reservationId = randomUUID();
			const session = await TestSession.open(suite.db.url);
			const waiting = async (statement: string) => (await session.blockedStatements()).some(query => query.includes(statement));
			// No call timeout: both are held for as long as the test needs.
			const held = (action: string, params: object) => suite.node.broker.call(action, params, { timeout: 0 });
			let reserved: Promise<unknown> | undefined;
			let released: Promise<unknown> | undefined;
			// The reserve writes its reservation row, then waits behind this lock on the stock row, uncommitted.
			const letGo = await session.hold("SELECT 1 FROM inventory.stocks WHERE product_id = $1 FOR UPDATE", [product.id]);
			try {
				reserved = held("inventory.reserve", { reservationId, items: [{ productId: product.id, quantity: 3 }] });
				await waitFor(() => waiting("FROM stocks WHERE product_id IN"));
				// The release finds no reservation yet, so it inserts one: that waits on the reserve's uncommitted row of the same id.
				released = held("inventory.release", { reservationId });
				await waitFor(() => waiting("INSERT INTO reservations"));
			} finally {
				await letGo();
				// Neither is left running if a wait above failed.
				await Promise.allSettled([reserved, released]);
				await session.close();
			}
			// The reserve commits; the release's insert then meets its key, and the release settles that reservation.
			await expect(reserved).resolves.toEqual({ reservationId, status: "HELD" });
			await expect(released).resolves.toEqual({ reservationId, status: "RELEASED" });
			expect((await ledger(product.id)).map(m => [m.reason, m.delta, m.reference])).toEqual([
				["INITIAL", 10, null],
				["RESERVE", 3, reservationId],
				["RELEASE", -3, reservationId]
			]);
			await expect(stock(product.id)).resolves.toMatchObject({ onHand: 10, reserved: 0 });
			await expectConsistent(product.id);
		});

	it("changes nothing when a purchase event is delivered again", async () => {
		const product = await productWithStock(10);
		const purchase = await buy([{ productId: product.id, quantity: 4 }], {}, "customer-7");
		await call("purchases.confirm", { id: purchase.id });
		await settled(product.id, { onHand: 6, reserved: 0 });
		const [confirmed] = (await auditTrail(suite.node.broker, { aggregateId: purchase.id, type: "purchase.confirmed" })).items;
		const event = {
			id: confirmed.id,
			type: confirmed.type,
			version: 1,
			occurredAt: confirmed.occurredAt,
			source: confirmed.source,
			aggregateId: confirmed.aggregateId,
			correlationId: confirmed.correlationId,
			payload: confirmed.payload
		};
		await expect(call("inventory.consumeEvent", event)).resolves.toEqual({ outcome: "duplicate" });
		await expect(call("inventory.consumeEvent", { ...event, id: randomUUID() })).resolves.toEqual({ outcome: "processed" });
		await expect(stock(product.id)).resolves.toMatchObject({ onHand: 6, reserved: 0 });
		await expectConsistent(product.id);
	});

	it("keeps each event of a purchase in the audit trail exactly once, with the request's correlation id", async () => {
		const product = await productWithStock(10);
		const purchase = (await suite.node.broker.call(
			"purchases.create",
			{ items: [{ productId: product.id, quantity: 1 }] },
			{ requestID: "corr-audit-1", meta: { user: { name: "shop" } } }
		)) as Purchase;
		await call("purchases.confirm", { id: purchase.id });
		await call("purchases.complete", { id: purchase.id });
		// What the purchase wrote, once all of it has reached audit: an event written or stored twice would show.
		const written = await delivered(suite.node.broker, "purchases", purchase.id);
		expect(written.map(e => e.type)).toEqual(["purchase.created", "purchase.confirmed", "purchase.completed"]);
		const trail = await auditSearch(suite.node.broker, { aggregateId: purchase.id });
		expect(trail.total).toBe(written.length);
		expect(trail.items.map(e => e.id).sort()).toEqual(written.map(e => e.id).sort());
		expect(trail.items.map(e => e.type)).toEqual(["purchase.completed", "purchase.confirmed", "purchase.created"]);
		expect(trail.items[2]).toMatchObject({ correlationId: "corr-audit-1", actor: "shop", source: "purchases" });
		// Under the request's correlation id: the purchase and the reservation it made, each once.
		const caused = (await delivered(suite.node.broker, "inventory", product.id)).filter(e => e.correlationId === "corr-audit-1");
		expect(caused.map(e => e.type)).toEqual(["inventory.stock-updated"]);
		const byCorrelation = await auditSearch(suite.node.broker, { correlationId: "corr-audit-1" });
		expect(byCorrelation.items.map(e => e.id).sort()).toEqual([written[0].id, caused[0].id].sort());
	});

	it("stores audit entries saved together once each, and fails every save of a batch the database refuses", async () => {
		const { store } = suite.node.broker.getLocalService("audit") as unknown as { store: AuditStore };
		const correlationId = `batched-${randomUUID()}`;
		const entry = (id = randomUUID()): AuditEntry => ({
			id,
			kind: "event",
			type: "test.batched",
			source: "test",
			aggregateId: id,
			correlationId,
			traceId: null,
			actor: null,
			occurredAt: new Date().toISOString(),
			payload: { note: "it's 'quoted'" }
		});
		const twice = entry();
		await expect(Promise.all([twice, twice].map(e => store.save(e)))).resolves.toEqual([true, false]);
		// More than one batch, with an id repeated in the next one: which of the two
		// concurrent statements stores it is open, but only one does.
		const entries = Array.from({ length: 249 }, () => entry());
		const saved = await Promise.all([...entries, entries[3]].map(e => store.save(e)));
		expect(saved.filter((isNew, i) => isNew && i !== 3 && i !== 249)).toHaveLength(248);
		expect([saved[3], saved[249]].sort()).toEqual([false, true]);
		await expect(Promise.all(entries.slice(0, 5).map(e => store.save(e)))).resolves.toEqual([false, false, false, false, false]);
		await expect(auditSearch(suite.node.broker, { correlationId })).resolves.toMatchObject({ total: 250 });
		const [stored] = (await auditSearch(suite.node.broker, { aggregateId: entries[0].id })).items;
		expect(stored).toEqual(entries[0]);

		const fresh = [entry(), entry()];
		const refused = { ...entry(), type: null as unknown as string };
		const results = await Promise.allSettled([...fresh, refused].map(e => store.save(e)));
		expect(results.map(r => r.status)).toEqual(["rejected", "rejected", "rejected"]);
		await expect(Promise.all(fresh.map(e => store.save(e)))).resolves.toEqual([true, true]);
	});

	it(concurrencyTitle(dialect, "keeps the invariants under concurrent purchases, confirmations and cancellations"), async () => {
		const products = await Promise.all([productWithStock(15), productWithStock(15)]);
		const created = await Promise.allSettled(
			Array.from({ length: 40 }, (_, i) =>
				buy([
					{ productId: products[i % 2].id, quantity: 1 + (i % 3) },
					...(i % 5 === 0 ? [{ productId: products[(i + 1) % 2].id, quantity: 1 }] : [])
				])
			)
		);
		const made = created.filter((r): r is PromiseFulfilledResult<Purchase> => r.status === "fulfilled").map(r => r.value);
		await Promise.allSettled(
			made.flatMap((p, i) => {
				const steps = [call(i % 3 === 0 ? "purchases.cancel" : "purchases.confirm", { id: p.id })];
				if (i % 4 === 0) steps.push(call("purchases.cancel", { id: p.id }));
				return steps;
			})
		);
		const finals = await Promise.all(made.map(p => call<Purchase>("purchases.get", { id: p.id })));
		for (const product of products) {
			const sold = unitsIn(finals, "CONFIRMED", product.id);
			const held = unitsIn(finals, "PENDING", product.id);
			await settled(product.id, { onHand: 15 - sold, reserved: held });
			await expectConsistent(product.id);
		}
	});
});

describe.each(testDialects())("purchase expiry on %s", dialect => {
	const suite = useNode(dialect, { PURCHASE_TTL: "1" });
	const { call, productWithStock, stock, ledger, expectConsistent } = catalog(() => suite.node.broker);

	it("cancels a PENDING purchase past PURCHASE_TTL with reason expired and releases its stock", async () => {
		const product = await productWithStock(5);
		const purchase = (await call("purchases.create", { items: [{ productId: product.id, quantity: 2 }] })) as Purchase;
		// Its stock was reserved (the ledger says so even if the sweeper released it already on a slow machine).
		expect((await ledger(product.id)).map(m => [m.reason, m.delta, m.reference])).toContainEqual(["RESERVE", 2, purchase.id]);
		const expired = await waitFor(async () => {
			const p = await call<Purchase>("purchases.get", { id: purchase.id });
			return p.status === "CANCELLED" && p;
		});
		expect(expired.cancelReason).toBe("expired");
		await waitFor(async () => (await stock(product.id)).reserved === 0);
		await expect(call("purchases.confirm", { id: purchase.id })).rejects.toMatchObject({ code: 409, data: { status: "CANCELLED" } });
		await expectConsistent(product.id);
	});

	it("expires instead of confirming a purchase that is past its TTL", async () => {
		const product = await productWithStock(5);
		const purchase = (await call("purchases.create", { items: [{ productId: product.id, quantity: 1 }] })) as Purchase;
		await waitFor(() => Date.now() > Date.parse(purchase.expiresAt));
		await expect(call("purchases.confirm", { id: purchase.id })).rejects.toMatchObject({ code: 409, type: "INVALID_TRANSITION" });
		await expect(call<Purchase>("purchases.get", { id: purchase.id })).resolves.toMatchObject({ status: "CANCELLED", cancelReason: "expired" });
	});

	it(concurrencyTitle(dialect, "keeps the invariants when expiry races confirmations, cancellations and sweeps running side by side"), async () => {
		const products = await Promise.all([productWithStock(30), productWithStock(30)]);
		const made = await Promise.all(
			Array.from({ length: 16 }, (_, i) =>
				call<Purchase>("purchases.create", {
					items: [{ productId: products[i % 2].id, quantity: 1 + (i % 2) }, ...(i % 3 === 0 ? [{ productId: products[(i + 1) % 2].id, quantity: 1 }] : [])]
				})
			)
		);
		// The steps of each purchase start around its own expiry, from 300 ms before to 300 ms after, while three
		// sweepers, as on three nodes, expire what is due. Which side of the expiry a step lands on depends on the
		// machine; what must hold does not. Steps from the 9th on start after the expiry, whatever the machine.
		const startedAt: number[] = [];
		let stepsDone = false;
		const steps = Promise.all(
			made.map(async (p, i) => {
				const due = Date.parse(p.expiresAt) - 300 + i * 40;
				await waitFor(() => Date.now() >= due);
				startedAt[i] = Date.now();
				return Promise.allSettled([
					call(i % 3 === 0 ? "purchases.cancel" : "purchases.confirm", { id: p.id }),
					...(i % 4 === 0 ? [call("purchases.cancel", { id: p.id })] : [])
				]);
			})
		).finally(() => (stepsDone = true));
		const sweeps = Array.from({ length: 3 }, async () => {
			while (!stepsDone) {
				await call("purchases.sweep");
				await new Promise(resolve => setTimeout(resolve, 50));
			}
		});
		await Promise.all([steps, ...sweeps]);

		// Every purchase had a step, and each step settles it one way or the other.
		const finals = await Promise.all(made.map(p => call<Purchase>("purchases.get", { id: p.id })));
		expect(finals.filter(p => p.status === "PENDING")).toEqual([]);
		// A confirmation asked for after the expiry expires the purchase instead (unless a sweeper did first).
		const lateConfirmations = made.filter((p, i) => i % 3 !== 0 && i % 4 !== 0 && startedAt[i] > Date.parse(p.expiresAt)).map(p => p.id);
		expect(lateConfirmations.length).toBeGreaterThan(0);
		for (const id of lateConfirmations) expect(finals.find(p => p.id === id)).toMatchObject({ status: "CANCELLED", cancelReason: "expired" });
		for (const product of products) {
			const sold = unitsIn(finals, "CONFIRMED", product.id);
			await waitFor(async () => {
				const s = await stock(product.id);
				return s.onHand === 30 - sold && s.reserved === 0;
			});
			await expectConsistent(product.id);
		}
		// Each purchase wrote one event per change it went through, however many sweepers and steps raced for
		// it, and once all of them reached audit, the trail holds exactly those.
		for (const purchase of finals) {
			const written = await delivered(suite.node.broker, "purchases", purchase.id);
			expect(written.map(e => e.type)).toEqual([
				"purchase.created",
				...(purchase.confirmedAt ? ["purchase.confirmed"] : []),
				...(purchase.status === "CANCELLED" ? ["purchase.cancelled"] : [])
			]);
			const trail = await auditSearch(suite.node.broker, { aggregateId: purchase.id });
			expect(trail.total).toBe(written.length);
			expect(trail.items.map(e => e.id).sort()).toEqual(written.map(e => e.id).sort());
		}
	});

	it("releases a reservation whose purchase was never written", async () => {
		const product = await productWithStock(5);
		await call("inventory.reserve", { reservationId: randomUUID(), items: [{ productId: product.id, quantity: 3 }] });
		const reservedAt = Date.now();
		await expect(stock(product.id)).resolves.toMatchObject({ reserved: 3 });
		await waitFor(() => Date.now() > reservedAt + 1100);
		await expect(call("purchases.sweep", { reservingGraceMs: 0 })).resolves.toMatchObject({ orphansReleased: 1 });
		await expect(stock(product.id)).resolves.toMatchObject({ reserved: 0 });
		await expectConsistent(product.id);
	});
});
