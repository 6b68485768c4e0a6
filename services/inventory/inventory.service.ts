/**
 * inventory: stock per product and its movement ledger. Every change is one transaction
 * that locks the stock row, checks the invariants, updates it conditionally on its
 * version, appends the ledger entry and writes its events to the outbox.
 */
import { DataTypes, type Model, type Sequelize, type Transaction } from "sequelize";
import type { Cachers, Context, Service } from "moleculer";
import { PolicyMemoryCacher, type VersionedCacher } from "../../lib/cache/cacher";
import { createDbMixin, type DbServiceThis } from "../../mixins/db.mixin";
import { createOutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { createEventConsumerMixin } from "../../mixins/event-consumer.mixin";
import { createCacheCleanerMixin } from "../../mixins/cache-cleaner.mixin";
import { inventoryMigrations } from "../../config/migrations/inventory";
import { buildEvent, originOf, type EventEnvelope, type EventOrigin } from "../../contracts/events";
import { defineService } from "../../lib/schema";
import { cachedRead, idempotentCall } from "../../lib/resilience";
import { orderItems, pageParams, uuid, offsetOf, pageOf, type Page, type PageQuery } from "../../lib/params";
import { UnprocessableError } from "../../contracts/errors";
import {
	MANUAL_REASONS,
	MAX_ON_HAND,
	available,
	release,
	returnSold,
	sell,
	changeOnHand,
	checkManualDelta,
	crossings,
	isLowStock,
	toStock,
	type ManualReason,
	type ReservationStatus,
	type MovementReason,
	type Stock,
	type StockLevels,
	type StockRecord
} from "./inventory.domain";
import { InsufficientStockError, ReservationClosedError, StockNotFoundError, type Shortage } from "./inventory.errors";
import { isUniqueViolation } from "../../lib/database";

function defineModels(sequelize: Sequelize) {
	const entity = sequelize.define(
		"stock",
		{
			productId: { type: DataTypes.UUID, primaryKey: true },
			onHand: DataTypes.INTEGER,
			reserved: DataTypes.INTEGER,
			lowStockThreshold: DataTypes.INTEGER,
			lowStock: DataTypes.BOOLEAN,
			version: DataTypes.INTEGER,
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE
		},
		{ tableName: "stocks", timestamps: false, underscored: true }
	);
	const movement = sequelize.define(
		"movement",
		{
			id: { type: DataTypes.BIGINT, primaryKey: true },
			productId: DataTypes.UUID,
			delta: DataTypes.INTEGER,
			reason: DataTypes.STRING(20),
			reference: DataTypes.STRING(100),
			onHandAfter: DataTypes.INTEGER,
			reservedAfter: DataTypes.INTEGER,
			at: DataTypes.DATE
		},
		{ tableName: "stock_movements", timestamps: false, underscored: true }
	);
	return { entity, movement };
}

const iso = (value: unknown) => new Date(value as string).toISOString();

function toRecord(model: Model): StockRecord {
	const row = model.get({ plain: true }) as StockRecord;
	return { ...row, lowStock: Boolean(row.lowStock), createdAt: iso(row.createdAt), updatedAt: iso(row.updatedAt) };
}

interface StockRow {
	product_id: string;
	on_hand: number;
	reserved: number;
	low_stock_threshold: number;
	low_stock: boolean | number;
	version: number;
	created_at: string | Date;
	updated_at: string | Date;
}

function fromRow(row: StockRow): StockRecord {
	return {
		productId: row.product_id,
		onHand: Number(row.on_hand),
		reserved: Number(row.reserved),
		lowStockThreshold: Number(row.low_stock_threshold),
		lowStock: Boolean(row.low_stock),
		version: Number(row.version),
		createdAt: iso(row.created_at),
		updatedAt: iso(row.updated_at)
	};
}

export interface Movement {
	id: number;
	productId: string;
	delta: number;
	reason: MovementReason;
	reference: string | null;
	onHandAfter: number;
	reservedAfter: number;
	at: string;
}

function toMovement(model: Model): Movement {
	const row = model.get({ plain: true }) as Movement;
	return { ...row, id: Number(row.id), at: iso(row.at) };
}

interface StockChange {
	delta: number;
	reason: MovementReason;
	reference: string | null;
	levels: StockLevels;
}

interface Reservation {
	id: string;
	status: ReservationStatus;
	items: { productId: string; quantity: number }[];
}

interface InventoryThis extends DbServiceThis, OutboxThis {
	changeStock(productId: string, origin: EventOrigin, decide: (current: StockRecord) => StockChange | null): Promise<Stock>;
	lockStock(tx: Transaction, productId: string): Promise<StockRecord | null>;
	writeChange(tx: Transaction, current: StockRecord, change: StockChange, origin: EventOrigin): Promise<StockRecord>;
	refreshStockCache(productId: string, after: StockRecord | { deletedVersion: number }): Promise<void>;
	lockReservation(tx: Transaction, id: string): Promise<Reservation | null>;
	reserveItem(tx: Transaction, productId: string, quantity: number, reservationId: string, origin: EventOrigin): Promise<StockRecord | null>;
	findShortages(items: Reservation["items"], tx?: Transaction): Promise<Shortage[]>;
	settleReservation(
		tx: Transaction,
		reservation: Reservation,
		status: ReservationStatus,
		reason: MovementReason,
		apply: (levels: StockLevels, quantity: number) => StockLevels,
		origin: EventOrigin
	): Promise<void>;
	recordMovement(tx: Transaction, productId: string, change: StockChange, at: string): Promise<void>;
	stockEvents(before: StockLevels | null, after: StockRecord, change: StockChange, origin: EventOrigin): EventEnvelope[];
}
type This = Service & InventoryThis;

/** A reserve asked again for a reservation that exists: the same answer while it is held, else a 409. */
function answerAgain(reservationId: string, status: ReservationStatus | "unknown") {
	if (status !== "HELD") throw new ReservationClosedError(reservationId, status);
	return { reservationId, status };
}

/** Seconds a cached stock lives (the proposal's 30 minutes); changes replace it at once. */
const STOCK_TTL = 1800;

const quantity = { type: "number", integer: true, min: 0, max: MAX_ON_HAND, convert: false } as const;

const InventoryService = defineService<This>({
	name: "inventory",
	mixins: [
		createDbMixin({ migrations: inventoryMigrations, models: defineModels }),
		createOutboxMixin(),
		createEventConsumerMixin({
			"product.created": "createStockWhenProductCreated",
			"product.deleted": "removeStockWhenProductDeleted",
			"purchase.confirmed": "sellWhenPurchaseConfirmed",
			"purchase.cancelled": "releaseWhenPurchaseCancelled"
		}),
		createCacheCleanerMixin(["inventory"])
	],
	settings: { rest: "/inventory" },

	actions: {
		/** A page of stock records, most recently changed first; `lowStock=true` keeps the low ones. */
		list: {
			rest: "GET /",
			...idempotentCall,
			params: { ...pageParams, lowStock: { type: "boolean", convert: true, optional: true } },
			async handler(this: This, ctx: Context<PageQuery & { lowStock?: boolean }>): Promise<Page<Stock>> {
				const { lowStock } = ctx.params;
				const { rows, count } = await this.models.entity.findAndCountAll({
					where: lowStock === undefined ? {} : { lowStock },
					order: [
						["updatedAt", "DESC"],
						["productId", "ASC"]
					],
					limit: ctx.params.pageSize,
					offset: offsetOf(ctx.params)
				});
				return pageOf(ctx.params, rows.map(row => toStock(toRecord(row))), count);
			}
		},

		/** The stock of one product. */
		get: {
			rest: "GET /:productId",
			...cachedRead(["productId"], STOCK_TTL),
			params: { productId: uuid },
			async handler(this: This, ctx: Context<{ productId: string }>): Promise<Stock> {
				const model = await this.models.entity.findByPk(ctx.params.productId);
				if (!model) throw new StockNotFoundError(ctx.params.productId);
				return toStock(toRecord(model));
			}
		},

		/** Sets on-hand stock to an absolute count (a counted inventory); the difference goes to the ledger as ADJUSTMENT. */
		setStock: {
			rest: "PUT /:productId/stock",
			params: {
				productId: uuid,
				onHand: quantity,
				lowStockThreshold: { ...quantity, optional: true },
				reference: { type: "string", trim: true, max: 100, optional: true },
				$$strict: true
			},
			handler(
				this: This,
				ctx: Context<{ productId: string; onHand: number; lowStockThreshold?: number; reference?: string }>
			): Promise<Stock> {
				const { productId, onHand, lowStockThreshold, reference } = ctx.params;
				return this.changeStock(productId, originOf(ctx), current => {
					const delta = onHand - current.onHand;
					const levels = { ...changeOnHand(current, delta), lowStockThreshold: lowStockThreshold ?? current.lowStockThreshold };
					if (delta === 0 && levels.lowStockThreshold === current.lowStockThreshold) return null;
					return { delta, reason: "ADJUSTMENT", reference: reference ?? null, levels };
				});
			}
		},

		/** Adds (or with ADJUSTMENT removes) stock relative to what is there. */
		adjust: {
			rest: "POST /:productId/adjustments",
			params: {
				productId: uuid,
				delta: { type: "number", integer: true, min: -1_000_000_000, max: 1_000_000_000, convert: false },
				reason: { type: "enum", values: [...MANUAL_REASONS] },
				reference: { type: "string", trim: true, max: 100, optional: true },
				$$strict: true
			},
			handler(
				this: This,
				ctx: Context<{ productId: string; delta: number; reason: ManualReason; reference?: string }>
			): Promise<Stock> {
				const { productId, delta, reason, reference } = ctx.params;
				const problem = checkManualDelta(reason, delta);
				if (problem) throw new UnprocessableError([{ field: "delta", message: problem }]);
				return this.changeStock(productId, originOf(ctx), current => ({
					delta,
					reason,
					reference: reference ?? null,
					levels: changeOnHand(current, delta)
				}));
			}
		},

		/** The ledger of one product, newest first. */
		movements: {
			rest: "GET /:productId/movements",
			...idempotentCall,
			params: { productId: uuid, ...pageParams },
			async handler(this: This, ctx: Context<PageQuery & { productId: string }>): Promise<Page<Movement>> {
				const { productId } = ctx.params;
				const { rows, count } = await this.models.movement.findAndCountAll({
					where: { productId },
					order: [["id", "DESC"]],
					limit: ctx.params.pageSize,
					offset: offsetOf(ctx.params)
				});
				if (count === 0 && !(await this.models.entity.findByPk(productId))) throw new StockNotFoundError(productId);
				return pageOf(ctx.params, rows.map(toMovement), count);
			}
		},

		/**
		 * Reserves every item of a purchase, or nothing (409 INSUFFICIENT_STOCK listing the
		 * items short). Idempotent by reservation id: a retried call never reserves twice,
		 * and a reservation that was released cannot come back.
		 */
		reserve: {
			visibility: "public",
			...idempotentCall,
			params: {
				reservationId: uuid,
				items: orderItems
			},
			async handler(this: This, ctx: Context<{ reservationId: string; items: Reservation["items"] }>) {
				const { reservationId } = ctx.params;
				// Sorted, so concurrent reservations lock rows in the same order and never deadlock.
				const items = [...ctx.params.items].sort((a, b) => a.productId.localeCompare(b.productId));
				const origin = originOf(ctx);
				// Most refusals need no lock: if the stock is short already, say so at once
				// (unless this is a retry of a reservation that took the last units).
				const short = await this.findShortages(items);
				if (short.length > 0) {
					const [earlier] = await this.db.rows<{ status: ReservationStatus }>("SELECT status FROM reservations WHERE id = :id", { id: reservationId });
					if (!earlier) throw new InsufficientStockError(short);
					return answerAgain(reservationId, earlier.status);
				}
				try {
					return await this.db.transaction(async tx => {
						const existing = await this.lockReservation(tx, reservationId);
						if (existing) return answerAgain(reservationId, existing.status);
						const now = new Date().toISOString();
						await this.db.rows(
							"INSERT INTO reservations (id, status, items, created_at, updated_at) VALUES (:id, 'HELD', :items, :now, :now) RETURNING id",
							{ id: reservationId, items: JSON.stringify(items), now },
							tx
						);
						for (const item of items) {
							const reserved = await this.reserveItem(tx, item.productId, item.quantity, reservationId, origin);
							// Rolling back releases what the earlier items took.
							if (!reserved) throw new InsufficientStockError(await this.findShortages(items, tx));
						}
						return { reservationId, status: "HELD" as ReservationStatus };
					});
				} catch (err) {
					// The same reservation reserved concurrently: the other call won, report its outcome.
					if (!isUniqueViolation(err)) throw err;
					const reservation = await this.db.transaction(tx => this.lockReservation(tx, reservationId));
					return answerAgain(reservationId, reservation?.status ?? "unknown");
				}
			}
		},

		/** Releases a held reservation; for an unknown id it records the release, so a late reserve is refused. */
		release: {
			visibility: "public",
			...idempotentCall,
			params: { reservationId: uuid },
			async handler(this: This, ctx: Context<{ reservationId: string }>) {
				const { reservationId } = ctx.params;
				const settle = () => this.db.transaction(async tx => {
					const reservation = await this.lockReservation(tx, reservationId);
					if (!reservation) {
						const now = new Date().toISOString();
						await this.db.rows(
							"INSERT INTO reservations (id, status, items, created_at, updated_at) VALUES (:id, 'RELEASED', '[]', :now, :now) RETURNING id",
							{ id: reservationId, now },
							tx
						);
						return { reservationId, status: "RELEASED" };
					}
					if (reservation.status === "HELD")
						await this.settleReservation(tx, reservation, "RELEASED", "RELEASE", release, originOf(ctx));
					return { reservationId, status: reservation.status === "HELD" ? "RELEASED" : reservation.status };
				});
				try {
					return await settle();
				} catch (err) {
					// A reserve of the same id inserted its row meanwhile: settle that one instead.
					if (!isUniqueViolation(err)) throw err;
					return settle();
				}
			}
		},

		/** Ids of reservations still held that were made before `before`, oldest first. */
		heldReservations: {
			visibility: "public",
			...idempotentCall,
			params: { before: { type: "date", convert: true }, limit: { type: "number", integer: true, min: 1, max: 1000, default: 100 } },
			async handler(this: This, ctx: Context<{ before: Date; limit: number }>): Promise<string[]> {
				const rows = await this.db.rows<{ id: string }>(
					"SELECT id FROM reservations WHERE status = 'HELD' AND created_at < :before ORDER BY created_at LIMIT :limit",
					{ before: ctx.params.before.toISOString(), limit: ctx.params.limit }
				);
				return rows.map(r => r.id);
			}
		}
	},

	methods: {
		/** Opens the stock record of a new product with its initial quantity. */
		async createStockWhenProductCreated(this: This, event: EventEnvelope<"product.created">, tx: Transaction) {
			const { initialStock, lowStockThreshold } = event.payload;
			const productId = event.aggregateId;
			const at = new Date().toISOString();
			const levels = { onHand: initialStock, reserved: 0, lowStockThreshold };
			const [created] = await this.db.rows<{ product_id: string }>(
				`INSERT INTO stocks (product_id, on_hand, reserved, low_stock_threshold, low_stock, version, created_at, updated_at)
				 VALUES (:productId, :onHand, 0, :lowStockThreshold, :lowStock, 1, :at, :at)
				 ON CONFLICT (product_id) DO NOTHING RETURNING product_id`,
				{ productId, ...levels, lowStock: isLowStock(levels), at },
				tx
			);
			if (!created) return;
			const change: StockChange = { delta: initialStock, reason: "INITIAL", reference: null, levels };
			await this.recordMovement(tx, productId, change, at);
			const record: StockRecord = { productId, ...levels, lowStock: isLowStock(levels), version: 1, createdAt: at, updatedAt: at };
			await this.appendEvents(tx, this.stockEvents(null, record, change, event));
			this.db.afterCommit(tx, () => this.clearCache());
		},

		/** Drops the stock record of a deleted product; its ledger stays for the record. */
		async removeStockWhenProductDeleted(this: This, event: EventEnvelope<"product.deleted">, tx: Transaction) {
			const productId = event.aggregateId;
			const [deleted] = await this.db.rows<{ version: number }>("DELETE FROM stocks WHERE product_id = :productId RETURNING version", { productId }, tx);
			if (deleted) this.db.afterCommit(tx, () => this.refreshStockCache(productId, { deletedVersion: Number(deleted.version) }));
		},

		async changeStock(this: This, productId: string, origin: EventOrigin, decide: (current: StockRecord) => StockChange | null): Promise<Stock> {
			const record = await this.db.transaction(async tx => {
				const current = await this.lockStock(tx, productId);
				if (!current) throw new StockNotFoundError(productId);
				const change = decide(current);
				return change ? this.writeChange(tx, current, change, origin) : current;
			});
			return toStock(record);
		},

		/**
		 * Reserves one item with a single conditional update (it takes the row lock only
		 * when the units are there); null when they are not.
		 */
		async reserveItem(this: This, tx: Transaction, productId: string, quantity: number, reservationId: string, origin: EventOrigin): Promise<StockRecord | null> {
			const at = new Date().toISOString();
			const [row] = await this.db.rows<StockRow>(
				`UPDATE stocks SET reserved = reserved + :quantity, version = version + 1, updated_at = :at,
				 low_stock = (on_hand - reserved - :quantity <= low_stock_threshold)
				 WHERE product_id = :productId AND on_hand - reserved >= :quantity
				 RETURNING product_id, on_hand, reserved, low_stock_threshold, low_stock, version, created_at, updated_at`,
				{ productId, quantity, at },
				tx
			);
			if (!row) return null;
			const after = fromRow(row);
			const change: StockChange = { delta: quantity, reason: "RESERVE", reference: reservationId, levels: after };
			await this.recordMovement(tx, productId, change, at);
			await this.appendEvents(tx, this.stockEvents({ ...after, reserved: after.reserved - quantity }, after, change, origin));
			this.db.afterCommit(tx, () => this.refreshStockCache(productId, after));
			return after;
		},

		/** The items whose available stock is below what is asked (a plain read unless `tx` is given). */
		async findShortages(this: This, items: Reservation["items"], tx?: Transaction): Promise<Shortage[]> {
			const rows = await this.db.rows<{ product_id: string; available: number | string }>(
				"SELECT product_id, on_hand - reserved AS available FROM stocks WHERE product_id IN (:ids)",
				{ ids: items.map(i => i.productId) },
				tx
			);
			const availability = new Map(rows.map(r => [r.product_id, Number(r.available)]));
			return items
				.map(item => ({ productId: item.productId, requested: item.quantity, available: availability.get(item.productId) ?? 0 }))
				.filter(s => s.available < s.requested);
		},

		/** Reads a stock row for update: a row lock on PostgreSQL; SQLite's writer lock is already held. */
		async lockStock(this: This, tx: Transaction, productId: string): Promise<StockRecord | null> {
			const model = await this.models.entity.findByPk(productId, {
				transaction: tx,
				lock: this.db.dialect === "postgres" ? tx.LOCK.UPDATE : undefined
			});
			return model ? toRecord(model) : null;
		},

		/** Writes new levels conditionally on the version read, with their ledger entry and events. */
		async writeChange(this: This, tx: Transaction, current: StockRecord, change: StockChange, origin: EventOrigin): Promise<StockRecord> {
			const at = new Date().toISOString();
			const next: StockRecord = {
				...current,
				...change.levels,
				lowStock: isLowStock(change.levels),
				version: current.version + 1,
				updatedAt: at
			};
			const [updated] = await this.db.rows(
				`UPDATE stocks SET on_hand = :onHand, reserved = :reserved, low_stock_threshold = :lowStockThreshold,
				 low_stock = :lowStock, version = :version, updated_at = :updatedAt
				 WHERE product_id = :productId AND version = :previous RETURNING product_id`,
				{ ...next, previous: current.version },
				tx
			);
			if (!updated) throw new Error(`stock of ${current.productId} changed under a row lock`);
			if (change.delta !== 0) await this.recordMovement(tx, current.productId, change, at);
			await this.appendEvents(tx, this.stockEvents(current, next, change, origin));
			this.db.afterCommit(tx, () => this.refreshStockCache(current.productId, next));
			return next;
		},

		/**
		 * Keeps a product's cached stock in step after a commit. A change is written through
		 * (the next read needs no database); a deletion retires the key, so no write-through
		 * of an earlier change brings the stock back. Near caches see a new version, and
		 * Memory caches on other nodes drop their copy.
		 */
		async refreshStockCache(this: This, productId: string, after: StockRecord | { deletedVersion: number }): Promise<void> {
			const cacher = this.broker.cacher as (Cachers.Base<object> & VersionedCacher) | null;
			if (!cacher) return;
			const key = cacher.getCacheKey({ name: `${this.name}.get` }, { keys: ["productId"] }, { params: { productId }, meta: {} });
			if ("deletedVersion" in after) await cacher.retire(key, after.deletedVersion, STOCK_TTL);
			else await cacher.writeThrough(key, toStock(after), STOCK_TTL);
			// A shared (Redis) cache is current already; per-node Memory caches elsewhere are not.
			if (cacher instanceof PolicyMemoryCacher) await this.broker.broadcast(`cache.clean.${this.name}`);
		},

		async lockReservation(this: This, tx: Transaction, id: string): Promise<Reservation | null> {
			const lock = this.db.dialect === "postgres" ? " FOR UPDATE" : "";
			const [row] = await this.db.rows<{ id: string; status: ReservationStatus; items: string }>(
				`SELECT id, status, items FROM reservations WHERE id = :id${lock}`,
				{ id },
				tx
			);
			return row ? { id: row.id, status: row.status, items: JSON.parse(row.items) } : null;
		},

		/**
		 * Applies one movement per item of a reservation and closes it with `status`. Items
		 * whose product was deleted meanwhile have no stock left to change and are skipped.
		 */
		async settleReservation(
			this: This,
			tx: Transaction,
			reservation: Reservation,
			status: ReservationStatus,
			reason: MovementReason,
			apply: (levels: StockLevels, quantity: number) => StockLevels,
			origin: EventOrigin
		): Promise<void> {
			for (const item of reservation.items) {
				const current = await this.lockStock(tx, item.productId);
				if (!current) continue;
				// A sale and a release take units out (of on-hand and reserved respectively); a return adds them back.
				const delta = reason === "RETURN" ? item.quantity : -item.quantity;
				await this.writeChange(tx, current, { delta, reason, reference: reservation.id, levels: apply(current, item.quantity) }, origin);
			}
			await this.db.rows("UPDATE reservations SET status = :status, updated_at = :now WHERE id = :id RETURNING id", {
				status,
				now: new Date().toISOString(),
				id: reservation.id
			}, tx);
		},

		/** A confirmed purchase turns its reservation into a sale. */
		async sellWhenPurchaseConfirmed(this: This, event: EventEnvelope<"purchase.confirmed">, tx: Transaction) {
			const reservation = await this.lockReservation(tx, event.aggregateId);
			if (reservation?.status === "CONSUMED") return;
			if (reservation?.status !== "HELD")
				throw new Error(`purchase ${event.aggregateId} was confirmed but its reservation is ${reservation?.status ?? "missing"}`);
			await this.settleReservation(tx, reservation, "CONSUMED", "SALE", sell, event);
		},

		/** A cancelled purchase releases its reservation (PENDING) or returns the sold stock (CONFIRMED). */
		async releaseWhenPurchaseCancelled(this: This, event: EventEnvelope<"purchase.cancelled">, tx: Transaction) {
			const reservation = await this.lockReservation(tx, event.aggregateId);
			if (reservation?.status === "HELD") await this.settleReservation(tx, reservation, "RELEASED", "RELEASE", release, event);
			else if (reservation?.status === "CONSUMED") await this.settleReservation(tx, reservation, "RETURNED", "RETURN", returnSold, event);
		},

		async recordMovement(this: This, tx: Transaction, productId: string, change: StockChange, at: string) {
			await this.db.sequelize.query(
				`INSERT INTO stock_movements (product_id, delta, reason, reference, on_hand_after, reserved_after, at)
				 VALUES (:productId, :delta, :reason, :reference, :onHand, :reserved, :at)`,
				{
					transaction: tx,
					replacements: {
						productId,
						delta: change.delta,
						reason: change.reason,
						reference: change.reference,
						onHand: change.levels.onHand,
						reserved: change.levels.reserved,
						at
					}
				}
			);
		},

		/** `stock-updated` for every change, plus `low-stock` / `out-of-stock` once per crossing. */
		stockEvents(
			this: This,
			before: StockLevels | null,
			after: StockRecord,
			change: StockChange,
			origin: EventOrigin
		): EventEnvelope[] {
			const id = after.productId;
			const events: EventEnvelope[] = [
				buildEvent(
					"inventory.stock-updated",
					this.name,
					id,
					{
						productId: id,
						onHand: after.onHand,
						reserved: after.reserved,
						available: available(after),
						delta: change.delta,
						reason: change.reason,
						reference: change.reference
					},
					origin
				)
			];
			const crossed = crossings(before, after);
			if (crossed.becameLow)
				events.push(
					buildEvent(
						"inventory.low-stock",
						this.name,
						id,
						{ productId: id, available: available(after), lowStockThreshold: after.lowStockThreshold },
						origin
					)
				);
			if (crossed.ranOut)
				events.push(
					buildEvent("inventory.out-of-stock", this.name, id, { productId: id, onHand: after.onHand, reserved: after.reserved }, origin)
				);
			return events;
		}
	}
});

export default InventoryService;
