/**
 * purchases: orders that hold stock while PENDING. Creating one is three steps recorded on
 * the purchase row (purchases.creation.ts); the sweeper (purchases.sweeper.ts) repairs rows
 * no request finishes. Transitions are done once per idempotency key.
 */
import type { Context, Service } from "moleculer";
import { createDbMixin, type DbServiceThis } from "../../mixins/db.mixin";
import { createOutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { createRememberedAnswersMixin } from "../../mixins/remembered-answers.mixin";
import { purchasesMigrations } from "./purchases.migrations";
import { originOf, type EventOrigin } from "../../contracts/events";
import { lifecycleOf } from "../../lib/lifecycle";
import { defineService } from "../../lib/schema";
import { idempotentCall, keyedWrite } from "../../lib/resilience";
import type { IdempotencyMeta } from "../../lib/idempotency";
import { keyedCallOf, onceForKey, type KeyedCall } from "../../lib/remembered-answers";
import { optional, orderItems, pageParams, text, uuid, offsetOf, pageOf, type Page, type PageQuery } from "../../lib/params";
import {
	PURCHASE_STATUSES,
	TRANSITIONS,
	canTransition,
	isExpired,
	refuseRepeatedProducts,
	toPurchase,
	withStatus,
	type Purchase,
	type PurchaseStatus,
	type StatusChange,
	type Transition
} from "./purchases.domain";
import { InvalidTransitionError, PurchaseNotFoundError } from "./purchases.errors";
import { idempotentRequest } from "./purchases.idempotency";
import { creationCommits, placeOnce, type CreateParams, type CreationCommits } from "./purchases.creation";
import {
	findReserved,
	listReserved,
	updateStatus,
	type StoredPurchase
} from "./purchases.repository";
import { statusChanged } from "./purchases.events";
import { countTransition, registerPurchaseMetrics } from "./purchases.metrics";
import { PURCHASE, PURCHASE_PAGE } from "./purchases.schemas";
import { periodicSweeper, sweep, type SweepResult } from "./purchases.sweeper";

export type { SweepResult } from "./purchases.sweeper";

interface CreateMeta extends IdempotencyMeta {
	$statusCode?: number;
	$location?: string;
}

interface PurchasesThis extends DbServiceThis, OutboxThis {
	creationCommits: CreationCommits;
	transition(ctx: Context, id: string, transition: Transition, reason?: string | null): Promise<Purchase>;
	freeStock(ctx: Context, id: string, confirmed: boolean): Promise<void>;
	changeStatus(
		id: string,
		origin: EventOrigin,
		decide: (current: StoredPurchase, now: string) => StatusChange | null,
		call?: KeyedCall | null
	): Promise<StoredPurchase | null>;
}
type This = Service & PurchasesThis;

const PurchasesService = defineService<This>({
	name: "purchases",
	mixins: [
		createDbMixin({ migrations: purchasesMigrations, table: "purchases" }),
		createOutboxMixin(),
		createRememberedAnswersMixin()
	],
	settings: { rest: "/purchases" },

	actions: {
		/**
		 * Creates a PENDING purchase priced from the catalog and reserves its stock. The
		 * same idempotency key with the same body answers the same purchase; with another
		 * body it is a 422.
		 */
		create: {
			rest: "POST /",
			openapi: { summary: "Create a purchase, reserving its stock", answers: PURCHASE },
			...keyedWrite,
			params: {
				items: orderItems,
				customerId: optional(text({ trim: true, min: 1, max: 100 })),
				$$strict: true
			},
			async handler(this: This, ctx: Context<CreateParams, CreateMeta>): Promise<Purchase> {
				const { items, customerId } = ctx.params;
				refuseRepeatedProducts(items);
				const purchase = await placeOnce(this, ctx, idempotentRequest(ctx.meta, items, customerId));
				ctx.meta.$statusCode = 201;
				ctx.meta.$location = `/purchases/${purchase.id}`;
				return toPurchase(purchase);
			}
		},

		/** A page of purchases, newest first, by `status` and `customerId`. */
		list: {
			rest: "GET /",
			openapi: { summary: "List purchases", answers: PURCHASE_PAGE },
			...idempotentCall,
			params: {
				...pageParams,
				status: { type: "enum", values: [...PURCHASE_STATUSES], optional: true },
				customerId: optional(text({ trim: true, min: 1, max: 100 }))
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
			openapi: { summary: "Get a purchase", answers: PURCHASE },
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
			openapi: { summary: "Confirm a pending purchase", answers: PURCHASE },
			...keyedWrite,
			params: { id: uuid, $$strict: true },
			handler(this: This, ctx: Context<{ id: string }>): Promise<Purchase> {
				return this.transition(ctx, ctx.params.id, "confirm");
			}
		},

		/** PENDING or CONFIRMED -> CANCELLED: reserved stock is released, sold stock returned. */
		cancel: {
			rest: "POST /:id/cancel",
			openapi: { summary: "Cancel a purchase, releasing or returning its stock", answers: PURCHASE },
			...keyedWrite,
			params: { id: uuid, reason: optional(text({ trim: true, min: 1, max: 200 })), $$strict: true },
			handler(this: This, ctx: Context<{ id: string; reason?: string }>): Promise<Purchase> {
				return this.transition(ctx, ctx.params.id, "cancel", ctx.params.reason ?? null);
			}
		},

		/** CONFIRMED -> COMPLETED. */
		complete: {
			rest: "POST /:id/complete",
			openapi: { summary: "Complete a confirmed purchase", answers: PURCHASE },
			...keyedWrite,
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
		/**
		 * Moves a purchase along the state machine; a PENDING one past its TTL expires instead
		 * (409). Once per idempotency key: the same call again is given the purchase its first
		 * call left, and answered from it as that call was (a 200, not a 409 for the status it
		 * moved to), after freeing its stock again if it is CANCELLED.
		 */
		async transition(this: This, ctx: Context, id: string, transition: Transition, reason: string | null = null): Promise<Purchase> {
			const { to, past } = TRANSITIONS[transition];
			const decide = (current: StoredPurchase, now: string): StatusChange => {
				if (isExpired(current, now)) return { status: "CANCELLED", reason: transition === "cancel" ? reason : "expired" };
				if (!canTransition(current.status, transition)) throw new InvalidTransitionError(id, past, current.status);
				return { status: to, reason };
			};
			const after = (await this.changeStatus(id, originOf(ctx), decide, keyedCallOf(ctx)))!;
			// Only a CONFIRMED purchase has a confirmation time when it is cancelled: its sale is returned.
			if (after.status === "CANCELLED") await this.freeStock(ctx, id, after.confirmedAt !== null);
			if (after.status !== to) throw new InvalidTransitionError(id, past, after.status, true);
			return toPurchase(after);
		},

		/** Frees a cancelled purchase's stock before the answer; when inventory cannot do it now, the purchase's event does it later. */
		async freeStock(this: This, ctx: Context, id: string, confirmed: boolean): Promise<void> {
			try {
				await ctx.call("inventory.settleCancelled", { reservationId: id, confirmed });
			} catch (err) {
				this.logger.warn(`The stock of cancelled purchase ${id} is freed when its event is handled: ${(err as Error).message}`);
			}
		},

		/**
		 * Changes a purchase's status in one transaction with its event, conditionally on the
		 * status it read; `decide` returns null to leave it as it is. With a keyed call, once
		 * per key: the same call again is given the purchase as the first one left it.
		 */
		async changeStatus(
			this: This,
			id: string,
			origin: EventOrigin,
			decide: (current: StoredPurchase, now: string) => StatusChange | null,
			call: KeyedCall | null = null
		) {
			let changedFrom = null as PurchaseStatus | null;
			const after = await onceForKey(this.db, call, async tx => {
				const current = await findReserved(this.db, id, tx);
				if (!current) throw new PurchaseNotFoundError(id);
				const now = new Date().toISOString();
				const change = decide(current, now);
				if (!change) return null;
				const next = withStatus(current, change, now);
				if (!(await updateStatus(this.db, tx, next, current.status))) throw new Error(`purchase ${id} changed under a row lock`);
				await this.appendEvents(tx, [statusChanged(this.name, current.status, next, origin)]);
				changedFrom = current.status;
				return next;
			});
			if (after && changedFrom) countTransition(this.broker, changedFrom, after);
			return after;
		}
	},

	created(this: This) {
		registerPurchaseMetrics(this.broker);
		this.creationCommits = creationCommits(this);
		lifecycleOf(this).add("jobs", periodicSweeper(this));
	}
});

export default PurchasesService;
