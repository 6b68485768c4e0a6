import { randomUUID } from "node:crypto";
import type { Context, ServiceSchema } from "moleculer";
import { testDialects } from "../helpers/engines";
import { concurrencyTitle, useNode } from "../helpers/suite";
import { waitFor } from "../helpers/wait";
import type { Product } from "../../services/products/products.domain";
import { MAX_ON_HAND, ON_HAND_REASONS, type Stock } from "../../services/inventory/inventory.domain";
import type { Movement } from "../../services/inventory/inventory.service";
import type { Page } from "../../lib/params";
import type { DbServiceThis } from "../../mixins/db.mixin";
import { PROCESSED_EVENTS_RETENTION_MS } from "../../mixins/event-consumer.mixin";
import { buildEvent, type EventEnvelope } from "../../contracts/events";

/** Records every domain event the cluster broadcasts. */
function eventRecorder(seen: EventEnvelope[]): ServiceSchema {
	const record = (ctx: Context<EventEnvelope>) => void seen.push(ctx.params);
	return {
		name: "recorder",
		events: {
			"product.*": record,
			"inventory.*": record
		}
	};
}

describe.each(testDialects())("inventory service on %s", dialect => {
	const seen: EventEnvelope[] = [];
	const suite = useNode(dialect, {}, [eventRecorder(seen)]);
	const call = <T>(action: string, params: object = {}) => suite.node.broker.call(action, params) as Promise<T>;

	async function productWithStock(stock: number, lowStockThreshold = 5): Promise<string> {
		const product = await call<Product>("products.create", { name: "Stocked", price: 2, stock, lowStockThreshold });
		await waitFor(() => call<Stock>("inventory.get", { productId: product.id }).catch(() => undefined));
		return product.id;
	}
	const eventsOf = (productId: string, type: string) => seen.filter(e => e.aggregateId === productId && e.type === type);
	/** The sum of the on-hand deltas of a product's whole ledger, read page by page. */
	const ledgerSum = async (productId: string) => {
		let sum = 0;
		for (let page = 1; ; page++) {
			const movements = await call<Page<Movement>>("inventory.movements", { productId, page, pageSize: 100 });
			sum += movements.items.filter(m => ON_HAND_REASONS.includes(m.reason)).reduce((s, m) => s + m.delta, 0);
			if (page * 100 >= movements.total!) return sum;
		}
	};

	it("opens the stock of a new product from product.created", async () => {
		const productId = await productWithStock(10, 3);
		await expect(call("inventory.get", { productId })).resolves.toMatchObject({
			productId,
			onHand: 10,
			reserved: 0,
			available: 10,
			lowStockThreshold: 3,
			lowStock: false
		});
		const movements = await call<Page<Movement>>("inventory.movements", { productId });
		expect(movements.items).toEqual([expect.objectContaining({ delta: 10, reason: "INITIAL", onHandAfter: 10 })]);
	});

	it("adjusts relatively and sets absolutely, writing the ledger", async () => {
		const productId = await productWithStock(10);
		await expect(call("inventory.adjust", { productId, delta: 5, reason: "RESTOCK" })).resolves.toMatchObject({ onHand: 15 });
		await expect(call("inventory.adjust", { productId, delta: -3, reason: "ADJUSTMENT", reference: "breakage" })).resolves.toMatchObject({
			onHand: 12
		});
		await expect(call("inventory.setStock", { productId, onHand: 40 })).resolves.toMatchObject({ onHand: 40, version: 4 });
		const movements = await call<Page<Movement>>("inventory.movements", { productId });
		expect(movements.items.map(m => [m.reason, m.delta])).toEqual([
			["ADJUSTMENT", 28],
			["ADJUSTMENT", -3],
			["RESTOCK", 5],
			["INITIAL", 10]
		]);
		expect(await ledgerSum(productId)).toBe(40);
	});

	it("refuses a change below zero with 409 and changes nothing", async () => {
		const productId = await productWithStock(3);
		await expect(call("inventory.adjust", { productId, delta: -4, reason: "ADJUSTMENT" })).rejects.toMatchObject({
			code: 409,
			type: "STOCK_BELOW_RESERVED"
		});
		await expect(call("inventory.setStock", { productId, onHand: -1 })).rejects.toMatchObject({ code: 422 });
		await expect(call("inventory.get", { productId })).resolves.toMatchObject({ onHand: 3, version: 1 });
		expect(await ledgerSum(productId)).toBe(3);
	});

	it("refuses to hold more than MAX_ON_HAND units with 409, and changes nothing", async () => {
		const productId = await productWithStock(MAX_ON_HAND);
		await expect(call("inventory.adjust", { productId, delta: MAX_ON_HAND, reason: "RESTOCK" })).rejects.toMatchObject({
			code: 409,
			type: "STOCK_LIMIT_EXCEEDED",
			data: { onHand: MAX_ON_HAND, requested: 2 * MAX_ON_HAND }
		});
		await expect(call("inventory.adjust", { productId, delta: -1, reason: "ADJUSTMENT" })).resolves.toMatchObject({ onHand: MAX_ON_HAND - 1 });
		await expect(call("inventory.adjust", { productId, delta: 2, reason: "RESTOCK" })).rejects.toMatchObject({ type: "STOCK_LIMIT_EXCEEDED" });
		await expect(call("inventory.get", { productId })).resolves.toMatchObject({ onHand: MAX_ON_HAND - 1, version: 2 });
		expect(await ledgerSum(productId)).toBe(MAX_ON_HAND - 1);
	});

	it("refuses system reasons and wrong signs with 422", async () => {
		const productId = await productWithStock(3);
		await expect(call("inventory.adjust", { productId, delta: 1, reason: "SALE" })).rejects.toMatchObject({ code: 422 });
		await expect(call("inventory.adjust", { productId, delta: -1, reason: "RESTOCK" })).rejects.toMatchObject({ code: 422 });
		await expect(call("inventory.adjust", { productId, delta: 0, reason: "ADJUSTMENT" })).rejects.toMatchObject({ code: 422 });
		await expect(call("inventory.adjust", { productId, delta: "2", reason: "RESTOCK" })).rejects.toMatchObject({ code: 422 });
	});

	it("answers 404 for a product without stock", async () => {
		const productId = "00000000-0000-4000-8000-000000000000";
		await expect(call("inventory.get", { productId })).rejects.toMatchObject({ code: 404, type: "STOCK_NOT_FOUND" });
		await expect(call("inventory.adjust", { productId, delta: 1, reason: "RESTOCK" })).rejects.toMatchObject({ code: 404 });
		await expect(call("inventory.movements", { productId })).rejects.toMatchObject({ code: 404 });
	});

	it(concurrencyTitle(dialect, "keeps the ledger equal to on-hand under 100 concurrent adjustments"), async () => {
		const productId = await productWithStock(50);
		const deltas = Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? 3 : -2));
		const results = await Promise.allSettled(
			deltas.map(delta => call("inventory.adjust", { productId, delta, reason: delta > 0 ? "RESTOCK" : "ADJUSTMENT" }))
		);
		expect(results.filter(r => r.status === "rejected")).toEqual([]);
		const stock = await call<Stock>("inventory.get", { productId });
		expect(stock.onHand).toBe(50 + 50 * 3 - 50 * 2);
		expect(stock.version).toBe(101);
		expect(await ledgerSum(productId)).toBe(stock.onHand);
	});

	it(concurrencyTitle(dialect, "never lets concurrent withdrawals take more than there is"), async () => {
		const productId = await productWithStock(20);
		const results = await Promise.allSettled(
			Array.from({ length: 30 }, () => call("inventory.adjust", { productId, delta: -1, reason: "ADJUSTMENT" }))
		);
		expect(results.filter(r => r.status === "fulfilled")).toHaveLength(20);
		expect(results.filter(r => r.status === "rejected").map(r => (r as PromiseRejectedResult).reason.type)).toEqual(
			Array(10).fill("STOCK_BELOW_RESERVED")
		);
		await expect(call("inventory.get", { productId })).resolves.toMatchObject({ onHand: 0, available: 0 });
		expect(await ledgerSum(productId)).toBe(0);
	});

	it("reserves concurrent reservations together: each all or nothing, a twin answered once, the ledger and events one per held item", async () => {
		const a = await productWithStock(10, 0);
		const b = await productWithStock(3, 0);
		const twin = randomUUID();
		const requests = [
			...Array.from({ length: 8 }, () => ({ reservationId: randomUUID(), items: [{ productId: a, quantity: 1 }, { productId: b, quantity: 1 }] })),
			{ reservationId: twin, items: [{ productId: a, quantity: 2 }] },
			{ reservationId: twin, items: [{ productId: a, quantity: 2 }] }
		];
		const answers = await Promise.allSettled(requests.map(params => call("inventory.reserve", params)));
		const held = requests.filter((_, i) => answers[i].status === "fulfilled");
		const refused = answers.filter((r): r is PromiseRejectedResult => r.status === "rejected");
		// b has 3 units: three of the eight pairs are held, the other five refused whole; the twin holds 2 of a once.
		expect(held.filter(r => r.reservationId === twin)).toHaveLength(2);
		expect(new Set(refused.map(r => r.reason.type))).toEqual(new Set(["INSUFFICIENT_STOCK"]));
		expect(refused).toHaveLength(5);
		await expect(call<Stock>("inventory.get", { productId: a })).resolves.toMatchObject({ onHand: 10, reserved: 5 });
		await expect(call<Stock>("inventory.get", { productId: b })).resolves.toMatchObject({ onHand: 3, reserved: 3 });
		const reservedIn = async (productId: string) =>
			(await call<Page<Movement>>("inventory.movements", { productId, pageSize: 100 })).items.filter(m => m.reason === "RESERVE").map(m => m.reference);
		const heldIds = new Set(held.map(r => r.reservationId));
		expect((await reservedIn(a)).sort()).toEqual([...heldIds].sort());
		expect((await reservedIn(b)).sort()).toEqual([...heldIds].filter(id => id !== twin).sort());
		await waitFor(() => eventsOf(b, "inventory.stock-updated").filter(e => (e.payload as { reason?: string }).reason === "RESERVE").length === 3);
		expect(eventsOf(a, "inventory.stock-updated").filter(e => (e.payload as { reason?: string }).reason === "RESERVE")).toHaveLength(heldIds.size);
		// A refused reservation left no row behind: it can be asked for again once there is stock.
		const again = requests[answers.findIndex(r => r.status === "rejected")];
		await call("inventory.adjust", { productId: b, delta: 1, reason: "RESTOCK" });
		await expect(call("inventory.reserve", again)).resolves.toEqual({ reservationId: again.reservationId, status: "HELD" });
		await expect(call<Stock>("inventory.get", { productId: b })).resolves.toMatchObject({ onHand: 4, reserved: 4 });
	});

	it("emits low-stock and out-of-stock once per crossing, stock-updated on every change", async () => {
		const productId = await productWithStock(10, 5);
		await call("inventory.adjust", { productId, delta: -5, reason: "ADJUSTMENT" }); // 5: low
		await call("inventory.adjust", { productId, delta: -1, reason: "ADJUSTMENT" }); // 4: still low
		await call("inventory.adjust", { productId, delta: -4, reason: "ADJUSTMENT" }); // 0: out
		await call("inventory.adjust", { productId, delta: 20, reason: "RESTOCK" }); // 20: recovered
		await call("inventory.adjust", { productId, delta: -16, reason: "ADJUSTMENT" }); // 4: low again
		await waitFor(
			() =>
				eventsOf(productId, "inventory.stock-updated").length === 6 &&
				eventsOf(productId, "inventory.low-stock").length === 2 &&
				eventsOf(productId, "inventory.out-of-stock").length === 1
		);
		expect(eventsOf(productId, "inventory.low-stock").map(e => e.payload)).toEqual([
			{ productId, available: 5, lowStockThreshold: 5 },
			{ productId, available: 4, lowStockThreshold: 5 }
		]);
		expect(eventsOf(productId, "inventory.out-of-stock")).toHaveLength(1);
		// What inventory wrote to its outbox, exactly: once per crossing, not once per change.
		const inventory = suite.node.broker.getLocalService("inventory") as unknown as DbServiceThis;
		const written = await inventory.db.rows<{ type: string; count: number | string }>(
			"SELECT type, count(*) AS count FROM outbox WHERE aggregate_id = :productId GROUP BY type ORDER BY type",
			{ productId }
		);
		expect(written.map(row => [row.type, Number(row.count)])).toEqual([
			["inventory.low-stock", 2],
			["inventory.out-of-stock", 1],
			["inventory.stock-updated", 6]
		]);
		const low = await call<Page<Stock>>("inventory.list", { lowStock: true, pageSize: 100 });
		expect(low.items.map(s => s.productId)).toContain(productId);
		expect(low.items.every(s => s.lowStock)).toBe(true);
	});

	it("carries the request's correlation id and actor into the events it causes", async () => {
		const product = (await suite.node.broker.call(
			"products.create",
			{ name: "Traced", price: 1, stock: 1 },
			{ requestID: "trace-123", meta: { user: { name: "shop" } } }
		)) as Product;
		const [stockEvent] = await waitFor(() => {
			const found = eventsOf(product.id, "inventory.stock-updated");
			return found.length > 0 && found;
		});
		expect(eventsOf(product.id, "product.created")[0]).toMatchObject({ correlationId: "trace-123", actor: "shop", source: "products", version: 1 });
		expect(stockEvent).toMatchObject({ correlationId: "trace-123", source: "inventory" });
	});

	it("changes nothing when an event is delivered again", async () => {
		const productId = "11111111-1111-4111-8111-111111111111";
		const event = buildEvent(
			"product.created",
			"products",
			productId,
			{
				product: { id: productId, sku: "X", name: "X", description: null, category: null, price: 1, currency: "EUR", active: true, version: 1 },
				initialStock: 7,
				lowStockThreshold: 1
			},
			{ correlationId: "redelivery" }
		);
		await expect(call("inventory.consumeEvent", event)).resolves.toEqual({ outcome: "processed" });
		await call("inventory.adjust", { productId, delta: 1, reason: "RESTOCK" });
		await expect(call("inventory.consumeEvent", event)).resolves.toEqual({ outcome: "duplicate" });
		await expect(call("inventory.get", { productId })).resolves.toMatchObject({ onHand: 8, version: 2 });
		expect(await ledgerSum(productId)).toBe(8);
	});

	it("forgets handled events once they are older than the retention period, in batches", async () => {
		const inventory = suite.node.broker.getLocalService("inventory") as unknown as DbServiceThis & {
			pruneProcessedEvents(before: Date): Promise<number>;
		};
		const countOf = async (consumer: string) =>
			Number((await inventory.db.rows<{ n: number | string }>("SELECT count(*) AS n FROM processed_events WHERE consumer = :consumer", { consumer }))[0].n);
		await productWithStock(1);
		const recent = await countOf("inventory");
		expect(recent).toBeGreaterThan(0);
		// More than one batch of rows handled just before the retention period began.
		const old = new Date(Date.now() - PROCESSED_EVENTS_RETENTION_MS - 60_000).toISOString();
		const ids = Array.from({ length: 5001 }, () => randomUUID());
		for (let i = 0; i < ids.length; i += 1000) {
			const values = ids.slice(i, i + 1000).map(id => `('aged', '${id}', 'product.created', '${old}')`);
			await inventory.db.rows(`INSERT INTO processed_events (consumer, event_id, event_type, processed_at) VALUES ${values.join(", ")} RETURNING event_id`);
		}
		await expect(inventory.pruneProcessedEvents(new Date(Date.now() - PROCESSED_EVENTS_RETENTION_MS))).resolves.toBe(ids.length);
		expect(await countOf("aged")).toBe(0);
		expect(await countOf("inventory")).toBeGreaterThanOrEqual(recent);
	});

	it("drops the stock record when its product is deleted, keeping the ledger", async () => {
		const productId = await productWithStock(4);
		await call("products.remove", { id: productId });
		await waitFor(() => call("inventory.get", { productId }).then(() => false, err => err.code === 404));
		await expect(call("inventory.adjust", { productId, delta: 1, reason: "RESTOCK" })).rejects.toMatchObject({ code: 404 });
	});
});
