import { Errors, type Context, type ServiceSchema } from "moleculer";
import { testDialects } from "../helpers/engines";
import { createTestDatabase, type TestDatabase } from "../helpers/databases";
import { startNode, type TestNode } from "../helpers/nodes";
import { waitFor } from "../helpers/wait";
import { outboxOf, type OutboxRow } from "../helpers/outbox";
import type { Product } from "../../services/products/products.domain";
import type { DbServiceThis } from "../../mixins/db.mixin";
import type { EventAnswer } from "../../mixins/event-consumer.mixin";
import { plainFailure } from "../../lib/failures";
import type { EventEnvelope } from "../../contracts/events";
import { productsMigrations } from "../../services/products/products.migrations";
import { openDatabase } from "../../lib/database";
import { parseDatabase } from "../../config/env";

/** The relay's attempts before it parks an event (OutboxRelay's default). */
const MAX_ATTEMPTS = 20;

/**
 * The inventory consumer group, played by the test: it notes every event it is handed and
 * refuses those `refuses` says, whether handed one by one or several in one call.
 */
function inventoryGroup(refuses: (event: EventEnvelope) => boolean, handed: EventEnvelope[]): ServiceSchema {
	const consume = (event: EventEnvelope) => {
		handed.push(event);
		if (refuses(event)) throw new Errors.MoleculerClientError("the test refuses this event", 422, "REFUSED");
		return { outcome: "processed" as const };
	};
	return {
		name: "inventory",
		actions: {
			consumeEvent: (ctx: Context<EventEnvelope>) => consume(ctx.params),
			consumeEvents: (ctx: Context<{ events: EventEnvelope[] }>): EventAnswer[] =>
				ctx.params.events.map(event => {
					try {
						return consume(event);
					} catch (err) {
						return { failure: plainFailure(err) };
					}
				})
		}
	};
}

describe.each(testDialects())("the outbox on %s", dialect => {
	let db: TestDatabase;
	let node: TestNode | undefined;
	const productsOutbox = () => outboxOf(node!.broker, "products");

	beforeAll(async () => {
		db = await createTestDatabase(dialect);
	});
	afterEach(async () => {
		await node?.stop();
		node = undefined;
	});
	afterAll(() => db.drop());

	it("keeps events while their consumer is down and delivers them, in order, once it is back", async () => {
		node = await startNode({ DATABASE_URL: db.url, SERVICES: "products" });
		const kept = (await node.broker.call("products.create", { name: "Kept", price: 1, stock: 6 })) as Product;
		const gone = (await node.broker.call("products.create", { name: "Gone", price: 1, stock: 2 })) as Product;
		await node.broker.call("products.remove", { id: gone.id });

		const pending = await waitFor(async () => {
			const rows = await productsOutbox();
			return rows.length === 3 && rows[0].attempts > 0 && rows[1].attempts > 0 && rows;
		});
		expect(pending.map(r => r.type)).toEqual(["product.created", "product.created", "product.deleted"]);
		expect(pending.every(r => r.published_at === null)).toBe(true);
		expect(pending[0].last_error).toMatch(/inventory/);
		// The deletion waits behind the creation of the same product instead of overtaking it.
		expect(pending[2].attempts).toBe(0);
		// As operators read it (the REPL's `outbox`): three waiting since the first was written, none parked.
		await expect(node.broker.call("products.outboxStatus")).resolves.toEqual({ pending: 3, oldestPendingAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/), parked: 0 });
		await node.stop();

		node = await startNode({ DATABASE_URL: db.url });
		await expect(waitFor(() => node!.broker.call("inventory.get", { productId: kept.id }).catch(() => undefined))).resolves.toMatchObject({ onHand: 6 });
		// The deletion was delivered after the creation, so the deleted product has no stock.
		await waitFor(async () => (await productsOutbox()).every(r => r.published_at !== null));
		await expect(node.broker.call("inventory.get", { productId: gone.id })).rejects.toMatchObject({ code: 404 });
	});

	it("hands a consumer group the events of many aggregates waiting together in one call, each answered on its own", async () => {
		node = await startNode({ DATABASE_URL: db.url, SERVICES: "products" });
		const products = await Promise.all(
			Array.from({ length: 8 }, (_, i) => node!.broker.call("products.create", { name: `Waiting ${i}`, price: 1, stock: 1 }) as Promise<Product>)
		);
		const ids = new Set(products.map(p => p.id));
		const ours = (rows: OutboxRow[]) => rows.filter(r => ids.has(r.aggregate_id));
		// Inventory is not running: the events wait, each tried once.
		await waitFor(async () => ours(await productsOutbox()).every(r => r.attempts > 0));
		await node.stop();
		// Each was tried at its own moment, so each would be due again at its own: all due now, for the next node's first pass.
		const outbox = openDatabase(parseDatabase(db.url), "products");
		await outbox.rows("UPDATE outbox SET next_attempt_at = NULL WHERE aggregate_id IN (:ids) RETURNING seq", { ids: [...ids] });
		await outbox.close();

		const handed: EventEnvelope[] = [];
		const batches: number[] = [];
		const group = inventoryGroup(e => e.aggregateId === products[0].id, handed);
		const actions = group.actions as Record<string, (ctx: Context<{ events: EventEnvelope[] }>) => unknown>;
		const [one, many] = [actions.consumeEvent, actions.consumeEvents];
		actions.consumeEvent = ctx => (batches.push(0), one(ctx));
		actions.consumeEvents = ctx => (batches.push(ctx.params.events.length), many(ctx));
		node = await startNode({ DATABASE_URL: db.url, SERVICES: "products,audit" }, [group]);
		await waitFor(async () => ours(await productsOutbox()).filter(r => r.published_at !== null).length === 7);
		// The first goes at once, the seven that wait for it in the next call (later calls: the refused one again).
		expect(batches.slice(0, 2)).toEqual([1, 7]);
		expect(new Set(handed.map(e => e.aggregateId))).toEqual(ids);
		// The refused one is kept for the group, with the reason it gave.
		const [refused] = ours(await productsOutbox()).filter(r => r.published_at === null);
		expect(refused).toMatchObject({ aggregate_id: products[0].id, last_error: "the test refuses this event" });
		expect(JSON.parse(refused.pending)).toEqual(["inventory"]);
	});

	it("hands events one by one to a consumer group from before consumeEvents (a rolling upgrade)", async () => {
		const handed: EventEnvelope[] = [];
		const group = inventoryGroup(() => false, handed);
		delete (group.actions as Record<string, unknown>).consumeEvents;
		node = await startNode({ DATABASE_URL: db.url, SERVICES: "products,audit" }, [group]);
		const products = await Promise.all(
			Array.from({ length: 4 }, (_, i) => node!.broker.call("products.create", { name: `Older ${i}`, price: 1, stock: 1 }) as Promise<Product>)
		);
		const ids = new Set(products.map(p => p.id));
		await waitFor(async () => (await productsOutbox()).filter(r => ids.has(r.aggregate_id)).every(r => r.published_at !== null));
		expect(new Set(handed.filter(e => ids.has(e.aggregateId)).map(e => e.aggregateId))).toEqual(ids);
	});

	it(`parks an event its consumer keeps refusing after ${MAX_ATTEMPTS} attempts, and delivers the later events of its aggregate`, async () => {
		const handed: EventEnvelope[] = [];
		node = await startNode({ DATABASE_URL: db.url, SERVICES: "products,audit" }, [inventoryGroup(e => e.type === "product.created", handed)]);
		const products = (node.broker.getLocalService("products") as unknown as DbServiceThis).db;
		const product = (await node.broker.call("products.create", { name: "Refused", price: 1, stock: 3 })) as Product;
		const [created] = await outboxOf(node.broker, "products", product.id);
		const handedCreated = () => handed.filter(e => e.id === created.id).length;
		const rowOf = async (id: string) => (await outboxOf(node!.broker, "products", product.id)).find(row => row.id === id)!;

		const parked = await waitFor(async () => {
			const current = await rowOf(created.id);
			if (current.parked_at) return current;
			// The relay waits longer after every refusal (up to a minute); once it has noted one,
			// the test makes the next attempt due at once instead of waiting as long.
			if (Number(current.attempts) === handedCreated())
				await products.rows("UPDATE outbox SET next_attempt_at = NULL WHERE id = :id AND attempts = :attempts AND parked_at IS NULL RETURNING seq", {
					id: created.id,
					attempts: current.attempts
				});
			return undefined;
		}, 180_000);
		expect(parked).toMatchObject({ type: "product.created", published_at: null, attempts: MAX_ATTEMPTS, last_error: "the test refuses this event" });
		// audit and the cluster broadcast took it; only the refusing group is left.
		expect(JSON.parse(parked.pending)).toEqual(["inventory"]);
		expect(handedCreated()).toBe(MAX_ATTEMPTS);
		// As operators read it (the REPL's `outbox` and `parked`).
		await expect(node.broker.call("products.parkedEvents", {})).resolves.toEqual([
			{ id: created.id, type: "product.created", aggregateId: product.id, attempts: MAX_ATTEMPTS, parkedAt: new Date(parked.parked_at!).toISOString(), lastError: "the test refuses this event" }
		]);
		await expect(node.broker.call("products.outboxStatus")).resolves.toMatchObject({ parked: 1 });

		// The next event of the same product is not held behind the parked one, which is not tried again.
		await node.broker.call("products.remove", { id: product.id });
		const deleted = await waitFor(() => handed.find(e => e.type === "product.deleted" && e.aggregateId === product.id));
		expect(handedCreated()).toBe(MAX_ATTEMPTS);
		await waitFor(async () => (await rowOf(deleted.id)).published_at !== null);
	}, 240_000);

	it("migrates once when two nodes start on the same database together", async () => {
		const fresh = await createTestDatabase(dialect);
		try {
			const nodes = await Promise.all([1, 2].map(() => startNode({ DATABASE_URL: fresh.url, SERVICES: "products,inventory" })));
			const products = nodes[0].broker.getLocalService("products") as unknown as DbServiceThis;
			const versions = await products.db.rows<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version");
			expect(versions.map(v => Number(v.version))).toEqual(productsMigrations.map(m => m.version));
			await Promise.all(nodes.map(n => n.stop()));
		} finally {
			await fresh.drop();
		}
	});
});
