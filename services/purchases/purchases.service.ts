/**
 * purchases: orders that hold stock while PENDING. Creating one is two steps, recorded
 * on the purchase row itself so a crash in between is repairable:
 *   1. insert the row as RESERVING (nothing announced yet),
 *   2. reserve every item in inventory (all or none, idempotent by purchase id),
 *   3. mark the row RESERVED and write `purchase.created` to the outbox.
 * The sweeper (purchases.sweeper.ts) repairs rows that never got past step 1 or 2.
 */
import { randomUUID } from "node:crypto";
import type { Context, Service } from "moleculer";
import { createDbMixin, type DbServiceThis } from "../../mixins/db.mixin";
import { createOutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { purchasesMigrations } from "../../config/migrations/purchases";
import { appConfig } from "../../config/broker-config";
import { originOf, type EventOrigin, type ProductSnapshot } from "../../contracts/events";
import { UnprocessableError } from "../../contracts/errors";
import { defineService } from "../../lib/schema";
import { guardedWrite, idempotentCall } from "../../lib/resilience";
import { isUniqueViolation } from "../../lib/database";
import { IDEMPOTENCY_KEY, orderItems, pageParams, uuid, offsetOf, pageOf, type Page, type PageQuery } from "../../lib/params";
import {
	PURCHASE_STATUSES,
	TRANSITIONS,
	canTransition,
	isExpired,
	priceItems,
	requestFingerprint,
	toPurchase,
	withStatus,
	type Purchase,
	type PurchaseStatus,
	type RequestedItem,
	type StatusChange,
	type Transition
} from "./purchases.domain";
import {
	IdempotencyKeyReusedError,
	IdempotentRequestInProgressError,
	InvalidTransitionError,
	PurchaseNotFoundError
} from "./purchases.errors";
import {
	definePurchaseModel,
	deleteReserving,
	findByIdempotencyKey,
	findReserved,
	insertReserving,
	listReserved,
	markReserved,
	updateStatus,
	type StoredPurchase
} from "./purchases.repository";
import { purchaseCreated, statusChanged } from "./purchases.events";
import { sweep, sweepPeriodically, type SweepResult } from "./purchases.sweeper";

export type { SweepResult } from "./purchases.sweeper";

/** Answers from inventory that mean "no reservation was made": the row can go at once. */
const NOT_RESERVED = new Set(["INSUFFICIENT_STOCK", "RESERVATION_CLOSED", "VALIDATION_ERROR"]);
/** Tells the OpenAPI document that the action reads the Idempotency-Key header. */
const readsIdempotencyKey = { readsIdempotencyKey: true };

interface CreateParams {
	items: RequestedItem[];
	customerId?: string;
}

interface CreateMeta {
	idempotencyKey?: string;
	user?: { name: string };
	$statusCode?: number;
	$location?: string;
}

interface PurchasesThis extends DbServiceThis, OutboxThis {
	stopSweeping?: () => void;
	replay(existing: StoredPurchase, fingerprint: string, ctx: Context<CreateParams, CreateMeta>): Purchase;
	transition(ctx: Context, id: string, transition: Transition, reason?: string | null): Promise<Purchase>;
	changeStatus(id: string, origin: EventOrigin, decide: (current: StoredPurchase, now: string) => StatusChange | null): Promise<StoredPurchase | null>;
}
type This = Service & PurchasesThis;

const PurchasesService = defineService<This>({
	name: "purchases",
	mixins: [
		createDbMixin({ migrations: purchasesMigrations, models: sequelize => ({ entity: definePurchaseModel(sequelize) }) }),
		createOutboxMixin()
	],
	settings: { rest: "/purchases" },

	actions: {
		/**
		 * Creates a PENDING purchase priced from the catalog and reserves its stock. The
		 * same Idempotency-Key with the same body answers the same purchase; with another
		 * body it is a 422.
		 */
		create: {
			rest: "POST /",
			...readsIdempotencyKey,
			...guardedWrite,
			params: {
				items: orderItems,
				customerId: { type: "string", trim: true, min: 1, max: 100, optional: true },
				$$strict: true
			},
			async handler(this: This, ctx: Context<CreateParams, CreateMeta>): Promise<Purchase> {
				const { items, customerId } = ctx.params;
				const ids = items.map(i => i.productId);
				const duplicate = ids.findIndex((id, i) => ids.indexOf(id) !== i);
				if (duplicate >= 0)
					throw new UnprocessableError([
						{ field: `items[${duplicate}].productId`, message: "Each product may appear once; add up its quantities." }
					]);
				const key = ctx.meta.idempotencyKey;
				if (key !== undefined && !IDEMPOTENCY_KEY.test(key))
					throw new UnprocessableError([
						{ field: "Idempotency-Key", message: "must be 1 to 200 printable ASCII characters" }
					]);
				// Keys are scoped to the caller, so two clients can never collide on one.
				const scopedKey = key === undefined ? null : { caller: ctx.meta.user?.name ?? "-", key };
				const fingerprint = requestFingerprint(items, customerId);
				if (scopedKey) {
					const existing = await findByIdempotencyKey(this.db, scopedKey);
					if (existing) return this.replay(existing, fingerprint, ctx);
				}

				const catalog = (await ctx.call("products.getMany", { ids })) as ProductSnapshot[];
				const priced = priceItems(items, new Map(catalog.map(p => [p.id, p])));
				const now = new Date();
				const record: StoredPurchase = {
					id: randomUUID(),
					status: "PENDING",
					reservationState: "RESERVING",
					items: priced.lines,
					totalCents: priced.totalCents,
					currency: priced.currency,
					customerId: customerId ?? null,
					idempotencyKey: key ?? null,
					requestHash: fingerprint,
					expiresAt: new Date(now.getTime() + appConfig(this.broker).purchaseTtl * 1000).toISOString(),
					cancelReason: null,
					createdAt: now.toISOString(),
					updatedAt: now.toISOString(),
					confirmedAt: null,
					completedAt: null,
					cancelledAt: null
				};

				try {
					await insertReserving(this.db, record, scopedKey);
				} catch (err) {
					// The same key sent twice at once: the other request owns it.
					if (!scopedKey || !isUniqueViolation(err)) throw err;
					const existing = await findByIdempotencyKey(this.db, scopedKey);
					if (!existing) throw err;
					return this.replay(existing, fingerprint, ctx);
				}

				try {
					await ctx.call("inventory.reserve", { reservationId: record.id, items: items.map(({ productId, quantity }) => ({ productId, quantity })) });
				} catch (err) {
					if (NOT_RESERVED.has(String((err as { type?: string }).type))) await deleteReserving(this.db, record.id);
					// Otherwise (inventory down, a timeout) the reservation may or may not exist:
					// the row stays RESERVING and the sweeper releases it.
					throw err;
				}

				record.reservationState = "RESERVED";
				await this.db.transaction(async tx => {
					if (!(await markReserved(this.db, record.id, tx))) throw new IdempotentRequestInProgressError();
					await this.appendEvents(tx, [purchaseCreated(this.name, record, originOf(ctx))]);
				});
				ctx.meta.$statusCode = 201;
				ctx.meta.$location = `/api/v1/purchases/${record.id}`;
				return toPurchase(record);
			}
		},

		/** A page of purchases, newest first, by `status` and `customerId`. */
		list: {
			rest: "GET /",
			...idempotentCall,
			params: {
				...pageParams,
				status: { type: "enum", values: [...PURCHASE_STATUSES], optional: true },
				customerId: { type: "string", trim: true, min: 1, max: 100, optional: true }
			},
			async handler(this: This, ctx: Context<PageQuery & { status?: PurchaseStatus; customerId?: string }>): Promise<Page<Purchase>> {
				const { status, customerId } = ctx.params;
				const { rows, count } = await listReserved(this.db, { status, customerId }, { limit: ctx.params.pageSize, offset: offsetOf(ctx.params) });
				return pageOf(ctx.params, rows.map(toPurchase), count);
			}
		},

		/** One purchase. */
		get: {
			rest: "GET /:id",
			...idempotentCall,
			params: { id: uuid },
			async handler(this: This, ctx: Context<{ id: string }>): Promise<Purchase> {
				const stored = await findReserved(this.db, ctx.params.id);
				if (!stored) throw new PurchaseNotFoundError(ctx.params.id);
				return toPurchase(stored);
			}
		},

		/** PENDING -> CONFIRMED: the reserved stock becomes a sale. */
		confirm: {
			rest: "POST /:id/confirm",
			params: { id: uuid, $$strict: true },
			handler(this: This, ctx: Context<{ id: string }>): Promise<Purchase> {
				return this.transition(ctx, ctx.params.id, "confirm");
			}
		},

		/** PENDING or CONFIRMED -> CANCELLED: reserved stock is released, sold stock returned. */
		cancel: {
			rest: "POST /:id/cancel",
			params: { id: uuid, reason: { type: "string", trim: true, min: 1, max: 200, optional: true }, $$strict: true },
			handler(this: This, ctx: Context<{ id: string; reason?: string }>): Promise<Purchase> {
				return this.transition(ctx, ctx.params.id, "cancel", ctx.params.reason ?? null);
			}
		},

		/** CONFIRMED -> COMPLETED. */
		complete: {
			rest: "POST /:id/complete",
			params: { id: uuid, $$strict: true },
			handler(this: This, ctx: Context<{ id: string }>): Promise<Purchase> {
				return this.transition(ctx, ctx.params.id, "complete");
			}
		},

		/** Runs the sweeper once (it also runs on a timer); for operators and tests. */
		sweep: {
			visibility: "public",
			params: { reservingGraceMs: { type: "number", integer: true, min: 0, optional: true } },
			handler(this: This, ctx: Context<{ reservingGraceMs?: number }>): Promise<SweepResult> {
				return sweep(this, ctx.params.reservingGraceMs);
			}
		}
	},

	methods: {
		/** The answer to a request whose Idempotency-Key was seen before. */
		replay(this: This, existing: StoredPurchase, fingerprint: string, ctx: Context<CreateParams, CreateMeta>): Purchase {
			if (existing.requestHash !== fingerprint) throw new IdempotencyKeyReusedError();
			if (existing.reservationState !== "RESERVED") throw new IdempotentRequestInProgressError();
			ctx.meta.$statusCode = 201;
			ctx.meta.$location = `/api/v1/purchases/${existing.id}`;
			return toPurchase(existing);
		},

		/** Moves a purchase along the state machine; a PENDING one past its TTL expires instead (409). */
		async transition(this: This, ctx: Context, id: string, transition: Transition, reason: string | null = null): Promise<Purchase> {
			const { to, past } = TRANSITIONS[transition];
			const after = await this.changeStatus(id, originOf(ctx), (current, now) => {
				if (isExpired(current, now)) return { status: "CANCELLED", reason: transition === "cancel" ? reason : "expired" };
				if (!canTransition(current.status, transition)) throw new InvalidTransitionError(id, past, current.status);
				return { status: to, reason };
			});
			if (after!.status !== to) throw new InvalidTransitionError(id, past, after!.status, true);
			return toPurchase(after!);
		},

		/**
		 * Changes a purchase's status in one transaction with its event, conditionally on the
		 * status it read; `decide` returns null to leave it as it is.
		 */
		async changeStatus(this: This, id: string, origin: EventOrigin, decide: (current: StoredPurchase, now: string) => StatusChange | null) {
			return this.db.transaction(async tx => {
				const current = await findReserved(this.db, id, tx);
				if (!current) throw new PurchaseNotFoundError(id);
				const now = new Date().toISOString();
				const change = decide(current, now);
				if (!change) return null;
				const next = withStatus(current, change, now);
				if (!(await updateStatus(this.db, next, current.status, tx))) throw new Error(`purchase ${id} changed under a row lock`);
				await this.appendEvents(tx, [statusChanged(this.name, current.status, next, origin)]);
				return next;
			});
		}
	},

	started(this: This) {
		this.stopSweeping = sweepPeriodically(this);
	},

	stopped(this: This) {
		this.stopSweeping?.();
	}
});

export default PurchasesService;
