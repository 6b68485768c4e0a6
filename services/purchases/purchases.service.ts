/**
 * purchases: orders that hold stock while PENDING. Creating one is two steps, recorded
 * on the purchase row itself so a crash in between is repairable:
 *   1. insert the row as RESERVING (nothing announced yet),
 *   2. reserve every item in inventory (all or none, idempotent by purchase id),
 *   3. mark the row RESERVED and write `purchase.created` to the outbox.
 * The sweeper cancels PENDING purchases past their TTL, and releases reservations of
 * rows that never got past step 1 or 2 (marking them ABANDONED first). It is safe on any
 * number of nodes: every change is conditional on the state it read.
 */
import { randomUUID } from "node:crypto";
import { DataTypes, type Model, type Sequelize, type Transaction } from "sequelize";
import type { Context, Service } from "moleculer";
import { createDbMixin, type DbServiceThis } from "../../mixins/db.mixin";
import { createOutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { isUniqueViolation } from "../../lib/database";
import { purchasesMigrations } from "../../config/migrations/purchases";
import { appConfig } from "../../config/broker-config";
import { buildEvent, originOf, type EventOrigin, type ProductSnapshot } from "../../contracts/events";
import { defineService } from "../../lib/schema";
import { guardedWrite, idempotentCall } from "../../lib/resilience";
import { IDEMPOTENCY_KEY, orderItems, pageParams, uuid, offsetOf, pageOf, type Page, type PageQuery } from "../../lib/params";
import { UnprocessableError } from "../../contracts/errors";
import {
	PURCHASE_STATUSES,
	TRANSITIONS,
	canTransition,
	eventPayload,
	priceItems,
	requestFingerprint,
	toPurchase,
	type Purchase,
	type PurchaseRecord,
	type PurchaseStatus,
	type RequestedItem,
	type Transition
} from "./purchases.domain";
import {
	IdempotencyKeyReusedError,
	IdempotentRequestInProgressError,
	InvalidTransitionError,
	PurchaseNotFoundError
} from "./purchases.errors";

/** How long a row may stay RESERVING before the sweeper repairs it: well past any request timeout. */
const RESERVING_GRACE_MS = 30_000;
/** Answers from inventory that mean "no reservation was made": the row can go at once. */
const NOT_RESERVED = new Set(["INSUFFICIENT_STOCK", "RESERVATION_CLOSED", "VALIDATION_ERROR"]);
/** Tells the OpenAPI document that the action reads the Idempotency-Key header. */
const readsIdempotencyKey = { readsIdempotencyKey: true };

function definePurchaseModel(sequelize: Sequelize) {
	return sequelize.define(
		"purchase",
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			status: DataTypes.STRING(20),
			reservationState: DataTypes.STRING(20),
			items: DataTypes.TEXT,
			totalCents: DataTypes.BIGINT,
			currency: DataTypes.STRING(3),
			customerId: DataTypes.STRING(100),
			idempotencyKey: DataTypes.STRING(200),
			requestHash: DataTypes.STRING(64),
			expiresAt: DataTypes.DATE,
			cancelReason: DataTypes.STRING(200),
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
			confirmedAt: DataTypes.DATE,
			completedAt: DataTypes.DATE,
			cancelledAt: DataTypes.DATE
		},
		{ tableName: "purchases", timestamps: false, underscored: true }
	);
}

interface StoredPurchase extends PurchaseRecord {
	reservationState: "RESERVING" | "RESERVED" | "ABANDONED";
	requestHash: string;
}

const iso = (value: unknown) => (value == null ? null : new Date(value as string).toISOString());

function toRecord(model: Model): StoredPurchase {
	const row = model.get({ plain: true }) as Record<string, unknown>;
	return {
		...(row as unknown as StoredPurchase),
		items: JSON.parse(row.items as string),
		totalCents: Number(row.totalCents),
		idempotencyKey: row.idempotencyKey ? String(row.idempotencyKey).replace(/^[^:]*:/, "") : null,
		expiresAt: iso(row.expiresAt)!,
		createdAt: iso(row.createdAt)!,
		updatedAt: iso(row.updatedAt)!,
		confirmedAt: iso(row.confirmedAt),
		completedAt: iso(row.completedAt),
		cancelledAt: iso(row.cancelledAt)
	};
}

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

interface StatusChange {
	status: PurchaseStatus;
	reason: string | null;
}

const EVENT_OF_STATUS = {
	CONFIRMED: "purchase.confirmed",
	CANCELLED: "purchase.cancelled",
	COMPLETED: "purchase.completed"
} as const;

const isExpired = (purchase: StoredPurchase, now: string) => purchase.status === "PENDING" && purchase.expiresAt <= now;

export interface SweepResult {
	expired: number;
	repaired: number;
	orphansReleased: number;
}

interface PurchasesThis extends DbServiceThis, OutboxThis {
	sweepTimer?: NodeJS.Timeout;
	findStored(where: Record<string, unknown>, tx?: Transaction): Promise<StoredPurchase | null>;
	replay(existing: StoredPurchase, fingerprint: string, ctx: Context<CreateParams, CreateMeta>): Purchase;
	transition(ctx: Context, id: string, transition: Transition, reason?: string | null): Promise<Purchase>;
	changeStatus(id: string, origin: EventOrigin, decide: (current: StoredPurchase, now: string) => StatusChange | null): Promise<StoredPurchase | null>;
	sweep(reservingGraceMs?: number): Promise<SweepResult>;
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
				const scopedKey = key === undefined ? null : `${ctx.meta.user?.name ?? "-"}:${key}`;
				const fingerprint = requestFingerprint(items, customerId);
				if (scopedKey) {
					const existing = await this.findStored({ idempotencyKey: scopedKey });
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
					await this.db.rows(
						`INSERT INTO purchases (id, status, reservation_state, items, total_cents, currency, customer_id,
						 idempotency_key, request_hash, expires_at, created_at, updated_at)
						 VALUES (:id, 'PENDING', 'RESERVING', :items, :totalCents, :currency, :customerId,
						 :scopedKey, :requestHash, :expiresAt, :createdAt, :updatedAt) RETURNING id`,
						{ ...record, items: JSON.stringify(record.items), scopedKey }
					);
				} catch (err) {
					// The same key sent twice at once: the other request owns it.
					if (!scopedKey || !isUniqueViolation(err)) throw err;
					const existing = await this.findStored({ idempotencyKey: scopedKey });
					if (!existing) throw err;
					return this.replay(existing, fingerprint, ctx);
				}

				try {
					await ctx.call("inventory.reserve", { reservationId: record.id, items: items.map(({ productId, quantity }) => ({ productId, quantity })) });
				} catch (err) {
					if (NOT_RESERVED.has(String((err as { type?: string }).type)))
						await this.db.rows("DELETE FROM purchases WHERE id = :id AND reservation_state = 'RESERVING' RETURNING id", { id: record.id });
					// Otherwise (inventory down, a timeout) the reservation may or may not exist:
					// the row stays RESERVING and the sweeper releases it.
					throw err;
				}

				record.reservationState = "RESERVED";
				await this.db.transaction(async tx => {
					const [marked] = await this.db.rows(
						"UPDATE purchases SET reservation_state = 'RESERVED' WHERE id = :id AND reservation_state = 'RESERVING' RETURNING id",
						{ id: record.id },
						tx
					);
					if (!marked) throw new IdempotentRequestInProgressError();
					await this.appendEvents(tx, [
						buildEvent("purchase.created", this.name, record.id, { ...eventPayload(record), expiresAt: record.expiresAt }, originOf(ctx))
					]);
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
				const { rows, count } = await this.models.entity.findAndCountAll({
					where: {
						reservationState: "RESERVED",
						...(status ? { status } : {}),
						...(customerId ? { customerId } : {})
					},
					order: [
						["createdAt", "DESC"],
						["id", "ASC"]
					],
					limit: ctx.params.pageSize,
					offset: offsetOf(ctx.params)
				});
				return pageOf(ctx.params, rows.map(row => toPurchase(toRecord(row))), count);
			}
		},

		/** One purchase. */
		get: {
			rest: "GET /:id",
			...idempotentCall,
			params: { id: uuid },
			async handler(this: This, ctx: Context<{ id: string }>): Promise<Purchase> {
				const stored = await this.findStored({ id: ctx.params.id, reservationState: "RESERVED" });
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
				return this.sweep(ctx.params.reservingGraceMs);
			}
		}
	},

	methods: {
		async findStored(this: This, where: Record<string, unknown>, tx?: Transaction): Promise<StoredPurchase | null> {
			const model = await this.models.entity.findOne({
				where,
				transaction: tx,
				lock: tx && this.db.dialect === "postgres" ? tx.LOCK.UPDATE : undefined
			});
			return model ? toRecord(model) : null;
		},

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
				const current = await this.findStored({ id, reservationState: "RESERVED" }, tx);
				if (!current) throw new PurchaseNotFoundError(id);
				const now = new Date().toISOString();
				const change = decide(current, now);
				if (!change) return null;
				const next: StoredPurchase = {
					...current,
					status: change.status,
					updatedAt: now,
					confirmedAt: change.status === "CONFIRMED" ? now : current.confirmedAt,
					completedAt: change.status === "COMPLETED" ? now : current.completedAt,
					cancelledAt: change.status === "CANCELLED" ? now : current.cancelledAt,
					cancelReason: change.status === "CANCELLED" ? change.reason : current.cancelReason
				};
				const [updated] = await this.db.rows(
					`UPDATE purchases SET status = :status, updated_at = :updatedAt, confirmed_at = :confirmedAt,
					 completed_at = :completedAt, cancelled_at = :cancelledAt, cancel_reason = :cancelReason
					 WHERE id = :id AND status = :previous RETURNING id`,
					{ ...next, previous: current.status },
					tx
				);
				if (!updated) throw new Error(`purchase ${id} changed under a row lock`);
				const event =
					next.status === "CANCELLED"
						? buildEvent("purchase.cancelled", this.name, id, { ...eventPayload(next), reason: next.cancelReason, previousStatus: current.status as "PENDING" | "CONFIRMED" }, origin)
						: buildEvent(EVENT_OF_STATUS[next.status as "CONFIRMED" | "COMPLETED"], this.name, id, eventPayload(next), origin);
				await this.appendEvents(tx, [event]);
				return next;
			});
		},

		async sweep(this: This, reservingGraceMs = RESERVING_GRACE_MS): Promise<SweepResult> {
			const result: SweepResult = { expired: 0, repaired: 0, orphansReleased: 0 };
			const now = Date.now();
			const origin = { correlationId: `sweep-${randomUUID()}`, actor: "system" };

			const due = await this.db.rows<{ id: string }>(
				"SELECT id FROM purchases WHERE status = 'PENDING' AND reservation_state = 'RESERVED' AND expires_at <= :now ORDER BY expires_at LIMIT 100",
				{ now: new Date(now).toISOString() }
			);
			for (const { id } of due) {
				const expired = await this.changeStatus(id, origin, (current, at) =>
					isExpired(current, at) ? { status: "CANCELLED", reason: "expired" } : null
				);
				if (expired) result.expired++;
			}

			// A row stuck in RESERVING is first marked ABANDONED, so a create still running can no
			// longer mark it RESERVED; then its stock is released, and only then the row goes.
			// A release that fails leaves the row ABANDONED for the next sweep.
			await this.db.rows(
				"UPDATE purchases SET reservation_state = 'ABANDONED' WHERE reservation_state = 'RESERVING' AND created_at <= :before RETURNING id",
				{ before: new Date(now - reservingGraceMs).toISOString() }
			);
			const abandoned = await this.db.rows<{ id: string }>(
				"SELECT id FROM purchases WHERE reservation_state = 'ABANDONED' ORDER BY created_at LIMIT 100"
			);
			for (const { id } of abandoned) {
				try {
					await this.broker.call("inventory.release", { reservationId: id }, { requestID: origin.correlationId });
				} catch (err) {
					this.logger.warn(`Sweep: the reservation of abandoned purchase ${id} was not released (${(err as Error).message}); next sweep.`);
					continue;
				}
				const [deleted] = await this.db.rows("DELETE FROM purchases WHERE id = :id AND reservation_state = 'ABANDONED' RETURNING id", { id });
				if (deleted) result.repaired++;
			}

			const ttlMs = appConfig(this.broker).purchaseTtl * 1000;
			const held = (await this.broker.call("inventory.heldReservations", {
				before: new Date(now - ttlMs - reservingGraceMs).toISOString()
			})) as string[];
			for (const reservationId of held) {
				const known = await this.models.entity.count({ where: { id: reservationId } });
				if (known > 0) continue;
				await this.broker.call("inventory.release", { reservationId }, { requestID: origin.correlationId });
				result.orphansReleased++;
			}
			if (result.expired + result.repaired + result.orphansReleased > 0) this.logger.info("Sweep:", result);
			return result;
		}
	},

	started(this: This) {
		const ttlMs = appConfig(this.broker).purchaseTtl * 1000;
		const every = Math.min(5000, Math.max(250, ttlMs / 4));
		const tick = () => {
			this.sweepTimer = setTimeout(async () => {
				await this.databaseReady;
				await this.sweep().catch(err => this.logger.warn("Sweep failed:", (err as Error).message));
				if (this.sweepTimer) tick();
			}, every * (0.8 + Math.random() * 0.4));
			this.sweepTimer.unref();
		};
		tick();
	},

	stopped(this: This) {
		clearTimeout(this.sweepTimer);
		this.sweepTimer = undefined;
	}
});

export default PurchasesService;

