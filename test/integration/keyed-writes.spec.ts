import { Errors } from "moleculer";
import { randomUUID } from "node:crypto";
import { testDialects, type TestDialect } from "../helpers/engines";
import { concurrencyTitle, useNode } from "../helpers/suite";
import { waitFor } from "../helpers/wait";
import { catalog } from "../helpers/catalog";
import { outboxOf } from "../helpers/outbox";
import { TestSession } from "../helpers/postgres";
import type { Purchase } from "../../services/purchases/purchases.domain";
import type { Stock } from "../../services/inventory/inventory.domain";
import type { DbServiceThis } from "../../mixins/db.mixin";
import type { OutboxThis } from "../../mixins/outbox.mixin";
import type { RememberedAnswersThis } from "../../mixins/remembered-answers.mixin";
import { ANSWER_RETENTION_MS, DERIVED_ANSWER_RETENTION_MS } from "../../lib/remembered-answers";
import type { IdempotencyMeta } from "../../lib/idempotency";

describe.each(testDialects())("keyed transitions and adjustments on %s", (dialect: TestDialect) => {
	const suite = useNode(dialect);
	const { call, productWithStock, stock, ledger, expectConsistent } = catalog(() => suite.node.broker);
	const keyed = <T>(action: string, params: object, meta: IdempotencyMeta) => suite.node.broker.call(action, params, { meta }) as Promise<T>;
	const clientKey = (name = "shop"): IdempotencyMeta => ({ idempotencyKey: `k-${randomUUID()}`, user: { name } });
	const buy = (productId: string, quantity = 2) => call<Purchase>("purchases.create", { items: [{ productId, quantity }] });
	const eventTypes = async (service: string, aggregateId: string) => (await outboxOf(suite.node.broker, service, aggregateId)).map(row => row.type);
	const serviceOf = (name: string) => suite.node.broker.getLocalService(name) as unknown as DbServiceThis & OutboxThis & RememberedAnswersThis;

	it("answers a confirm and a complete sent again with their first answers, changing the purchase once", async () => {
		const product = await productWithStock(10);
		const purchase = await buy(product.id);
		const confirmKey = clientKey();
		const confirmed = await keyed<Purchase>("purchases.confirm", { id: purchase.id }, confirmKey);
		expect(confirmed).toMatchObject({ status: "CONFIRMED" });
		await expect(keyed("purchases.confirm", { id: purchase.id }, confirmKey)).resolves.toEqual(confirmed);
		// Without its key the same confirm is a new request, refused for the status the first one left.
		await expect(call("purchases.confirm", { id: purchase.id })).rejects.toMatchObject({ code: 409, type: "INVALID_TRANSITION" });

		const completeKey = clientKey();
		const completed = await keyed<Purchase>("purchases.complete", { id: purchase.id }, completeKey);
		await expect(keyed("purchases.complete", { id: purchase.id }, completeKey)).resolves.toEqual(completed);
		// The earlier key is still answered as it was, whatever happened to the purchase since.
		await expect(keyed("purchases.confirm", { id: purchase.id }, confirmKey)).resolves.toEqual(confirmed);
		expect(await eventTypes("purchases", purchase.id)).toEqual(["purchase.created", "purchase.confirmed", "purchase.completed"]);
	});

	it("answers a cancel sent again with its first answer, and frees the stock again before it answers", async () => {
		const product = await productWithStock(5);
		const purchase = await buy(product.id, 5);
		const broker = suite.node.broker;
		// No purchase event reaches inventory from here: only a cancel itself can sell and free the stock.
		const relay = serviceOf("purchases").outboxRelay;
		await relay.stop();
		const key = clientKey();
		try {
			await call("purchases.confirm", { id: purchase.id });
			let cancelled: Purchase;
			// The first cancel cannot reach inventory: it stands, its stock not freed yet.
			const realCall = broker.call.bind(broker);
			broker.call = ((action: string, ...rest: unknown[]) =>
				action === "inventory.settleCancelled"
					? Promise.reject(new Errors.ServiceNotAvailableError({ action, nodeID: broker.nodeID }))
					: (realCall as (...args: unknown[]) => unknown)(action, ...rest)) as typeof broker.call;
			try {
				cancelled = await keyed<Purchase>("purchases.cancel", { id: purchase.id, reason: "lost" }, key);
			} finally {
				broker.call = realCall;
			}
			expect(cancelled).toMatchObject({ status: "CANCELLED", cancelReason: "lost" });
			await expect(stock(product.id)).resolves.toMatchObject({ onHand: 5, reserved: 5 });
			await expect(keyed("purchases.cancel", { id: purchase.id, reason: "lost" }, key)).resolves.toEqual(cancelled);
			// The sale was applied and returned by the repeat, before it answered.
			await expect(stock(product.id)).resolves.toMatchObject({ onHand: 5, reserved: 0 });
		} finally {
			relay.start();
		}
		expect(await eventTypes("purchases", purchase.id)).toEqual(["purchase.created", "purchase.confirmed", "purchase.cancelled"]);
		// The events that follow find the work done.
		await waitFor(async () => (await outboxOf(broker, "purchases", purchase.id)).every(row => row.published_at !== null));
		expect((await ledger(product.id)).map(m => m.reason)).toEqual(["INITIAL", "RESERVE", "SALE", "RETURN"]);
		await expectConsistent(product.id);
	});

	it("answers a confirm that expired its purchase, sent again, with the same 409, expiring it once", async () => {
		const product = await productWithStock(2);
		const purchase = await buy(product.id, 1);
		const purchases = serviceOf("purchases") as ReturnType<typeof serviceOf> & { changeStatus(...args: unknown[]): Promise<unknown> };
		const changeStatus = purchases.changeStatus;
		// The sweeper leaves this purchase alone (it calls without a key): only the confirm finds it past its TTL.
		purchases.changeStatus = (id: unknown, ...rest: unknown[]) => (id === purchase.id && !rest[2] ? Promise.resolve(null) : changeStatus(id, ...rest));
		try {
			await purchases.db.rows("UPDATE purchases SET expires_at = :past WHERE id = :id RETURNING id", { id: purchase.id, past: new Date(Date.now() - 1000).toISOString() });
			const key = clientKey();
			const expired = { code: 409, type: "INVALID_TRANSITION", message: expect.stringContaining("(expired)"), data: { status: "CANCELLED" } };
			await expect(keyed("purchases.confirm", { id: purchase.id }, key)).rejects.toMatchObject(expired);
			await expect(keyed("purchases.confirm", { id: purchase.id }, key)).rejects.toMatchObject(expired);
		} finally {
			purchases.changeStatus = changeStatus;
		}
		await expect(call("purchases.get", { id: purchase.id })).resolves.toMatchObject({ status: "CANCELLED", cancelReason: "expired" });
		expect(await eventTypes("purchases", purchase.id)).toEqual(["purchase.created", "purchase.cancelled"]);
		await expect(stock(product.id)).resolves.toMatchObject({ reserved: 0 });
	});

	it("answers an adjustment sent again with its first answer, adding the stock once", async () => {
		const product = await productWithStock(3);
		const key = clientKey();
		const body = { productId: product.id, delta: 5, reason: "RESTOCK", reference: "PO-7" };
		const first = await keyed<Stock>("inventory.adjust", body, key);
		expect(first).toMatchObject({ onHand: 8, version: 2 });
		await expect(keyed("inventory.adjust", body, key)).resolves.toEqual(first);
		await expect(stock(product.id)).resolves.toMatchObject({ onHand: 8, version: 2 });
		expect((await ledger(product.id)).map(m => [m.reason, m.delta])).toEqual([
			["INITIAL", 3],
			["RESTOCK", 5]
		]);
		expect((await eventTypes("inventory", product.id)).filter(type => type === "inventory.stock-updated")).toHaveLength(2);
		await expectConsistent(product.id);
	});

	it("refuses a key sent again with another body, another purchase or another action with 422, changing nothing", async () => {
		const product = await productWithStock(10);
		const key = clientKey();
		await keyed("inventory.adjust", { productId: product.id, delta: 2, reason: "RESTOCK" }, key);
		const reused = { code: 422, type: "VALIDATION_ERROR", data: [{ field: "Idempotency-Key" }] };
		await expect(keyed("inventory.adjust", { productId: product.id, delta: 3, reason: "RESTOCK" }, key)).rejects.toMatchObject(reused);
		await expect(keyed("inventory.adjust", { productId: product.id, delta: 2, reason: "RESTOCK", reference: "x" }, key)).rejects.toMatchObject(reused);
		await expect(keyed("inventory.setStock", { productId: product.id, onHand: 5 }, key)).rejects.toMatchObject(reused);
		// An action that reads no key ignores it.
		await expect(keyed("inventory.get", { productId: product.id }, key)).resolves.toMatchObject({ productId: product.id });
		await expect(stock(product.id)).resolves.toMatchObject({ onHand: 12 });

		const one = await buy(product.id, 1);
		const other = await buy(product.id, 1);
		const transitionKey = clientKey();
		await keyed("purchases.confirm", { id: one.id }, transitionKey);
		await expect(keyed("purchases.confirm", { id: other.id }, transitionKey)).rejects.toMatchObject(reused);
		await expect(keyed("purchases.cancel", { id: one.id }, transitionKey)).rejects.toMatchObject(reused);
		await expect(call("purchases.get", { id: other.id })).resolves.toMatchObject({ status: "PENDING" });
		await expect(call("purchases.get", { id: one.id })).resolves.toMatchObject({ status: "CONFIRMED" });
	});

	it("keeps a key apart per caller and from the gateway's own keys", async () => {
		const product = await productWithStock(0);
		const body = { productId: product.id, delta: 1, reason: "RESTOCK" };
		const key = `k-${randomUUID()}`;
		await keyed("inventory.adjust", body, { idempotencyKey: key, user: { name: "shop" } });
		await keyed("inventory.adjust", body, { idempotencyKey: key, user: { name: "ops" } });
		await keyed("inventory.adjust", body, { derivedIdempotencyKey: key, user: { name: "shop" } });
		await expect(stock(product.id)).resolves.toMatchObject({ onHand: 3 });
	});

	it("treats the gateway's derived key like a client's: the call sent again has its effect once", async () => {
		const product = await productWithStock(4);
		const meta: IdempotencyMeta = { derivedIdempotencyKey: randomUUID(), user: { name: "shop" } };
		const body = { productId: product.id, delta: -1, reason: "ADJUSTMENT" };
		const first = await keyed<Stock>("inventory.adjust", body, meta);
		await expect(keyed("inventory.adjust", body, meta)).resolves.toEqual(first);
		await expect(stock(product.id)).resolves.toMatchObject({ onHand: 3 });

		const purchase = await buy(product.id, 1);
		const derived: IdempotencyMeta = { derivedIdempotencyKey: randomUUID() };
		const cancelled = await keyed<Purchase>("purchases.cancel", { id: purchase.id }, derived);
		await expect(keyed("purchases.cancel", { id: purchase.id }, derived)).resolves.toEqual(cancelled);
		expect(await eventTypes("purchases", purchase.id)).toEqual(["purchase.created", "purchase.cancelled"]);
		await expect(stock(product.id)).resolves.toMatchObject({ onHand: 3, reserved: 0 });
	});

	it("remembers nothing for a call that was refused: the same key is tried again", async () => {
		const product = await productWithStock(1);
		const key = clientKey();
		const body = { productId: product.id, delta: -3, reason: "ADJUSTMENT" };
		await expect(keyed("inventory.adjust", body, key)).rejects.toMatchObject({ code: 409 });
		await call("inventory.adjust", { productId: product.id, delta: 5, reason: "RESTOCK" });
		await expect(keyed("inventory.adjust", body, key)).resolves.toMatchObject({ onHand: 3 });
		await expect(keyed("inventory.adjust", body, key)).resolves.toMatchObject({ onHand: 3 });
		await expectConsistent(product.id);
	});

	it(concurrencyTitle(dialect, "has one effect for calls with one key at the same moment, and gives each the first answer"), async () => {
		const product = await productWithStock(10);
		const key = clientKey();
		const body = { productId: product.id, delta: 4, reason: "RESTOCK" };
		// Fewer calls than the service's connections (DATABASE_POOL_MAX), so each is in the database at once.
		const send = () => Promise.all(Array.from({ length: 3 }, () => keyed<Stock>("inventory.adjust", body, key)));
		let answers: Stock[];
		if (dialect === "postgres") {
			// The first call claims the key, then waits behind this row lock; the others wait for its claim.
			const session = await TestSession.open(suite.db.url);
			const release = await session.hold("SELECT 1 FROM inventory.stocks WHERE product_id = $1 FOR UPDATE", [product.id]);
			try {
				const sent = send();
				await waitFor(async () => {
					const blocked = await session.blockedStatements();
					return blocked.filter(sql => sql.includes("FROM stocks")).length === 1 && blocked.filter(sql => sql.includes("INSERT INTO remembered_answers")).length === 2;
				});
				await release();
				answers = await sent;
			} finally {
				await release();
				await session.close();
			}
		} else answers = await send();
		expect(new Set(answers.map(answer => JSON.stringify(answer))).size).toBe(1);
		await expect(stock(product.id)).resolves.toMatchObject({ onHand: 14 });
		expect((await ledger(product.id)).filter(m => m.reason === "RESTOCK")).toHaveLength(1);

		const purchase = await buy(product.id, 1);
		const confirmKey = clientKey();
		const confirmations = await Promise.all(Array.from({ length: 5 }, () => keyed<Purchase>("purchases.confirm", { id: purchase.id }, confirmKey)));
		expect(confirmations.every(answer => answer.status === "CONFIRMED" && answer.confirmedAt === confirmations[0].confirmedAt)).toBe(true);
		expect(await eventTypes("purchases", purchase.id)).toEqual(["purchase.created", "purchase.confirmed"]);
	});

	it("forgets answers once their retention is over, in batches, in both services: a client's key after 24 h, the gateway's after 10 minutes", async () => {
		const product = await productWithStock(1);
		const fresh = clientKey();
		await keyed("inventory.adjust", { productId: product.id, delta: 1, reason: "RESTOCK" }, fresh);
		await keyed("inventory.adjust", { productId: product.id, delta: 1, reason: "RESTOCK" }, { derivedIdempotencyKey: `gw-${fresh.idempotencyKey}`, user: { name: "shop" } });
		const inventory = serviceOf("inventory");
		const rowsLike = (service: DbServiceThis, like: string) =>
			service.db.rows<{ created_at: Date | string; expires_at: Date | string }>("SELECT created_at, expires_at FROM remembered_answers WHERE scoped_key LIKE :like", { like });
		const keptFor = async (like: string) => {
			const [row] = await rowsLike(inventory, like);
			return new Date(row.expires_at).getTime() - new Date(row.created_at).getTime();
		};
		expect(await keptFor(`shop:${fresh.idempotencyKey}`)).toBe(ANSWER_RETENTION_MS);
		expect(await keptFor(`~shop:gw-${fresh.idempotencyKey}`)).toBe(DERIVED_ANSWER_RETENTION_MS);
		// More than one batch, whose retention ended a minute ago.
		const at = new Date(Date.now() - ANSWER_RETENTION_MS - 60_000).toISOString();
		const until = new Date(Date.now() - 60_000).toISOString();
		const aged = Array.from({ length: 5001 }, () => randomUUID());
		for (let i = 0; i < aged.length; i += 1000) {
			const values = aged.slice(i, i + 1000).map(id => `('aged:${id}', '${"0".repeat(64)}', 'null', '${at}', '${until}')`);
			await inventory.db.rows(`INSERT INTO remembered_answers (scoped_key, fingerprint, answer, created_at, expires_at) VALUES ${values.join(", ")} RETURNING scoped_key`);
		}
		await expect(inventory.pruneRememberedAnswers(new Date())).resolves.toBe(aged.length);
		expect(await rowsLike(inventory, "aged:%")).toHaveLength(0);
		expect(await rowsLike(inventory, `shop:${fresh.idempotencyKey}`)).toHaveLength(1);
		// Ten minutes on, the gateway's key is forgotten and the client's kept.
		await inventory.pruneRememberedAnswers(new Date(Date.now() + DERIVED_ANSWER_RETENTION_MS + 1000));
		expect(await rowsLike(inventory, `~shop:gw-${fresh.idempotencyKey}`)).toHaveLength(0);
		expect(await rowsLike(inventory, `shop:${fresh.idempotencyKey}`)).toHaveLength(1);

		const purchases = serviceOf("purchases");
		await purchases.db.rows(`INSERT INTO remembered_answers (scoped_key, fingerprint, answer, created_at, expires_at) VALUES ('aged:one', '${"0".repeat(64)}', 'null', '${at}', '${until}') RETURNING scoped_key`);
		await expect(purchases.pruneRememberedAnswers(new Date())).resolves.toBe(1);
		expect(await rowsLike(purchases, "aged:%")).toHaveLength(0);
	});
});
