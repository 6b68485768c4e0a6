/**
 * inventory: stock per product and its movement ledger. Every change is one transaction
 * that locks the stock row, checks the invariants, updates it conditionally on its
 * version, appends the ledger entry and writes its events to the outbox.
 */
import type { Context } from "moleculer";
import { createDbMixin } from "../../mixins/db.mixin";
import { createOutboxMixin } from "../../mixins/outbox.mixin";
import { createEventConsumerMixin } from "../../mixins/event-consumer.mixin";
import { createCacheCleanerMixin } from "../../mixins/cache-cleaner.mixin";
import { createRememberedAnswersMixin } from "../../mixins/remembered-answers.mixin";
import { lifecycleOf } from "../../lib/lifecycle";
import { stockGauges } from "./inventory.metrics";
import { inventoryMigrations } from "./inventory.migrations";
import { originOf } from "../../contracts/events";
import { defineService } from "../../lib/schema";
import { cachedRead, idempotentCall, keyedWrite } from "../../lib/resilience";
import { keyedCallOf } from "../../lib/remembered-answers";
import { cursorPageParams, optional, orderItems, queryFlag, text, uuid, pageOf, type Page, type PageQuery } from "../../lib/params";
import { windowOf } from "../../lib/keyset";
import { UnprocessableError } from "../../contracts/errors";
import { isUniqueViolation } from "../../lib/database";
import {
	MANUAL_REASONS,
	MAX_ON_HAND,
	changeOnHand,
	checkManualDelta,
	onCancelNow,
	onRelease,
	toStock,
	type ManualReason,
	type ReservationItem,
	type Stock
} from "./inventory.domain";
import { ReservationNotFoundError, StockNotFoundError } from "./inventory.errors";
import { STOCK_TTL } from "./inventory.cache";
import { createStockWhenProductCreated, releaseWhenPurchaseCancelled, removeStockWhenProductDeleted, sellWhenPurchaseConfirmed } from "./inventory.reactions";
import { changeStock, settleReservation, type InventoryThis } from "./inventory.changes";
import { reservationCommits, reserve, type ReservationCommits } from "./inventory.reservations";
import { findStock, listMovements, listStocks, MOVEMENT_ORDER, STOCK_ORDER, type Movement } from "./inventory.repository";
import { findReservation, heldReservationIds, insertReservation, lockReservation, type ReservationView } from "./inventory.reservations.repository";
import { ADJUSTMENT_RULES, MOVEMENT_PAGE, STOCK, STOCK_PAGE } from "./inventory.schemas";

export type { Movement };

type This = InventoryThis & { reservationCommits: ReservationCommits };

const quantity = { type: "number", integer: true, min: 0, max: MAX_ON_HAND, convert: false } as const;

const InventoryService = defineService<This>({
	name: "inventory",
	mixins: [
		createDbMixin({ migrations: inventoryMigrations, table: "stocks", key: "product_id" }),
		createOutboxMixin(),
		createEventConsumerMixin<This>({
			"product.created": createStockWhenProductCreated,
			"product.deleted": removeStockWhenProductDeleted,
			"purchase.confirmed": sellWhenPurchaseConfirmed,
			"purchase.cancelled": releaseWhenPurchaseCancelled
		}),
		createCacheCleanerMixin(["inventory"]),
		createRememberedAnswersMixin()
	],
	settings: { rest: "/inventory" },

	actions: {
		/** A page of stock records, most recently changed first; `lowStock=true` keeps the low ones. */
		list: {
			rest: "GET /",
			openapi: { summary: "List stock records", answers: STOCK_PAGE },
			...idempotentCall,
			params: { ...cursorPageParams, lowStock: optional(queryFlag) },
			async handler(this: This, ctx: Context<PageQuery & { lowStock?: boolean }>): Promise<Page<Stock>> {
				const { items, total, nextCursor } = await listStocks(this.db, ctx.params.lowStock, windowOf(ctx.params, STOCK_ORDER));
				return pageOf(ctx.params, items.map(toStock), total, nextCursor);
			}
		},

		/** The stock of one product. */
		get: {
			rest: "GET /:productId",
			openapi: { summary: "Get a product's stock", answers: STOCK },
			...cachedRead(["productId"], STOCK_TTL),
			params: { productId: uuid },
			async handler(this: This, ctx: Context<{ productId: string }>): Promise<Stock> {
				const record = await findStock(this.db, ctx.params.productId);
				if (!record) throw new StockNotFoundError(ctx.params.productId);
				return toStock(record);
			}
		},

		/** Sets on-hand stock to an absolute count (a counted inventory); the difference goes to the ledger as ADJUSTMENT. */
		setStock: {
			rest: "PUT /:productId/stock",
			openapi: { summary: "Set on-hand stock to a counted quantity", answers: STOCK },
			...keyedWrite,
			params: {
				productId: uuid,
				onHand: quantity,
				lowStockThreshold: optional(quantity),
				reference: optional(text({ trim: true, max: 100 })),
				$$strict: true
			},
			handler(
				this: This,
				ctx: Context<{ productId: string; onHand: number; lowStockThreshold?: number; reference?: string }>
			): Promise<Stock> {
				const { productId, onHand, lowStockThreshold, reference } = ctx.params;
				return changeStock(this, productId, originOf(ctx), current => {
					const delta = onHand - current.onHand;
					const levels = { ...changeOnHand(current, delta), lowStockThreshold: lowStockThreshold ?? current.lowStockThreshold };
					if (delta === 0 && levels.lowStockThreshold === current.lowStockThreshold) return null;
					return { delta, reason: "ADJUSTMENT", reference: reference ?? null, levels };
				}, keyedCallOf(ctx));
			}
		},

		/**
		 * Adds (or with ADJUSTMENT removes) stock relative to what is there. A repeat would add
		 * it twice, so it is done once per idempotency key: the same key and body answers the
		 * first answer again, another body is a 422.
		 */
		adjust: {
			rest: "POST /:productId/adjustments",
			openapi: { summary: "Add or remove stock", answers: STOCK, bodyRules: ADJUSTMENT_RULES },
			...keyedWrite,
			params: {
				productId: uuid,
				delta: { type: "number", integer: true, min: -1_000_000_000, max: 1_000_000_000, convert: false },
				reason: { type: "enum", values: [...MANUAL_REASONS] },
				reference: optional(text({ trim: true, max: 100 })),
				$$strict: true
			},
			handler(
				this: This,
				ctx: Context<{ productId: string; delta: number; reason: ManualReason; reference?: string }>
			): Promise<Stock> {
				const { productId, delta, reason, reference } = ctx.params;
				const problem = checkManualDelta(reason, delta);
				if (problem) throw new UnprocessableError([{ field: "delta", message: problem }]);
				return changeStock(
					this,
					productId,
					originOf(ctx),
					current => ({ delta, reason, reference: reference ?? null, levels: changeOnHand(current, delta) }),
					keyedCallOf(ctx)
				);
			}
		},

		/** The ledger of one product, newest first. */
		movements: {
			rest: "GET /:productId/movements",
			openapi: { summary: "List a product's stock movements", answers: MOVEMENT_PAGE },
			...idempotentCall,
			params: { productId: uuid, ...cursorPageParams },
			async handler(this: This, ctx: Context<PageQuery & { productId: string }>): Promise<Page<Movement>> {
				const { productId } = ctx.params;
				const { items, total, nextCursor } = await listMovements(this.db, productId, windowOf(ctx.params, MOVEMENT_ORDER));
				if (items.length === 0 && !(await findStock(this.db, productId))) throw new StockNotFoundError(productId);
				return pageOf(ctx.params, items, total, nextCursor);
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
			async handler(this: This, ctx: Context<{ reservationId: string; items: ReservationItem[] }>) {
				const { reservationId } = ctx.params;
				// Sorted, so concurrent reservations lock rows in the same order and never deadlock.
				const items = [...ctx.params.items].sort((a, b) => a.productId.localeCompare(b.productId));
				// Grouped with concurrent reserves in one transaction (inventory.reservations.ts).
				return reserve(this.reservationCommits, { reservationId, items, origin: originOf(ctx) });
			}
		},

		/** Releases a held reservation; for an unknown id it records the release, so a late reserve is refused. */
		release: {
			visibility: "public",
			...idempotentCall,
			params: { reservationId: uuid },
			async handler(this: This, ctx: Context<{ reservationId: string }>) {
				const { reservationId } = ctx.params;
				const settle = () =>
					this.db.transaction(async tx => {
						const reservation = await lockReservation(this.db, tx, reservationId);
						if (!reservation) {
							await insertReservation(this.db, tx, { id: reservationId, status: "RELEASED", items: [] });
							return { reservationId, status: "RELEASED" };
						}
						const transition = onRelease(reservation.status);
						if (transition) await settleReservation(this, tx, reservation, transition, originOf(ctx));
						return { reservationId, status: transition?.to ?? reservation.status };
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

		/** Frees the stock of a cancelled purchase before its cancel answers; the purchase's events find it done. */
		settleCancelled: {
			visibility: "public",
			...idempotentCall,
			params: { reservationId: uuid, confirmed: "boolean" },
			handler(this: This, ctx: Context<{ reservationId: string; confirmed: boolean }>) {
				const { reservationId, confirmed } = ctx.params;
				return this.db.transaction(async tx => {
					const reservation = await lockReservation(this.db, tx, reservationId);
					const steps = onCancelNow(reservation?.status, confirmed);
					for (const step of steps) await settleReservation(this, tx, reservation!, step, originOf(ctx));
					return { reservationId, status: steps.at(-1)?.to ?? reservation?.status ?? "unknown" };
				});
			}
		},

		/** One reservation (a purchase's has the purchase's id) with its items; for operators (the REPL's `purchase`). */
		reservation: {
			visibility: "public",
			...idempotentCall,
			params: { reservationId: uuid },
			async handler(this: This, ctx: Context<{ reservationId: string }>): Promise<ReservationView> {
				const reservation = await findReservation(this.db, ctx.params.reservationId);
				if (!reservation) throw new ReservationNotFoundError(ctx.params.reservationId);
				return reservation;
			}
		},

		/** Ids of reservations still held that were made before `before`, oldest first. */
		heldReservations: {
			visibility: "public",
			...idempotentCall,
			params: { before: { type: "date", convert: true }, limit: { type: "number", integer: true, min: 1, max: 1000, default: 100 } },
			handler(this: This, ctx: Context<{ before: Date; limit: number }>): Promise<string[]> {
				return heldReservationIds(this.db, ctx.params.before, ctx.params.limit);
			}
		}
	},

	created(this: This) {
		this.reservationCommits = reservationCommits(this);
		lifecycleOf(this).add("jobs", stockGauges(this));
	}
});

export default InventoryService;
