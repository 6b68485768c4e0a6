/**
 * Creating a purchase: three steps recorded on the purchase row, so a crash in between is
 * repairable:
 *   1. insert the row as RESERVING (nothing announced yet),
 *   2. reserve every item in inventory (all or none, idempotent by purchase id),
 *   3. mark the row RESERVED and write `purchase.created` to the outbox.
 * Every creation has an idempotency key (the client's, else the gateway's), so a request sent
 * again after its node died finishes the row that node left (purchases.idempotency.ts).
 * Steps 1 and 3 are group commits (lib/group-commit.ts): concurrent creations share one
 * statement and one transaction, each row still conditional on its own state.
 */
import { randomUUID } from "node:crypto";
import type { Context, Service } from "moleculer";
import type { DbServiceThis } from "../../mixins/db.mixin";
import type { OutboxThis } from "../../mixins/outbox.mixin";
import { appConfig } from "../../config/broker-config";
import { originOf, type ProductSnapshot } from "../../contracts/events";
import { pendingPurchase, priceItems, type RequestedItem } from "./purchases.domain";
import { IdempotentRequestInProgressError } from "./purchases.errors";
import { lookUp, ownerOfKey, type IdempotentRequest } from "./purchases.idempotency";
import { deleteReserving, findReserved, insertReserving, markReserved, type NewPurchase, type StoredPurchase } from "./purchases.repository";
import { GroupCommit } from "../../lib/group-commit";
import type { EventEnvelope } from "../../contracts/events";
import { purchaseCreated } from "./purchases.events";
import { countTransition, NO_STATUS } from "./purchases.metrics";
import { releaseAbandoned } from "./purchases.sweeper";

export interface CreateParams {
	items: RequestedItem[];
	customerId?: string;
}

/** The two writes of a creation on the purchases table, each grouped with those of concurrent creations. */
export interface CreationCommits {
	/** Step 1: true when the row was inserted, false when its Idempotency-Key is taken. */
	insert: GroupCommit<NewPurchase, boolean>;
	/** Step 3: true when the row was marked RESERVED with its event, false when the sweeper abandoned it first. */
	announce: GroupCommit<{ id: string; event: EventEnvelope }, boolean>;
}

type Creator = Service & DbServiceThis & OutboxThis & { creationCommits: CreationCommits };

/** The group commits of a purchases service's creations. */
export function creationCommits(svc: Service & DbServiceThis & OutboxThis): CreationCommits {
	return {
		insert: new GroupCommit(async purchases => {
			const inserted = await insertReserving(svc.db, purchases);
			return purchases.map(({ record }) => inserted.has(record.id));
		}),
		announce: new GroupCommit(announcements =>
			svc.db.transaction(async tx => {
				const marked = await markReserved(svc.db, tx, announcements.map(a => a.id));
				// Two requests with one key may finish the same row in one batch: the first marks it
				// and announces it; the second finds it marked, as it would in a batch after.
				const ours = announcements.map(a => marked.delete(a.id));
				await svc.appendEvents(tx, announcements.filter((_, i) => ours[i]).map(a => a.event));
				return ours;
			})
		)
	};
}

/** Answers from inventory that mean "no reservation was made": the row can go at once. */
const NOT_RESERVED = new Set(["INSUFFICIENT_STOCK", "RESERVATION_CLOSED", "VALIDATION_ERROR"]);

/** The purchase of the request: the one its key made (finished if it is not yet), else a new one. */
export async function placeOnce(svc: Creator, ctx: Context<CreateParams>, request: IdempotentRequest): Promise<StoredPurchase> {
	// No lookup ahead of the insert: the key's unique index finds an earlier request (a repeat
	// is rare, a lookup on every creation is not). A repeat whose products cannot be priced
	// any more is still answered with its purchase.
	let record: StoredPurchase;
	try {
		record = await priced(svc, ctx, request);
	} catch (err) {
		const earlier = await lookUp(svc.db, request);
		if (!earlier) throw err;
		return finish(svc, ctx, earlier);
	}
	// Another request sending the same key (now or before) owns it: finish its purchase.
	const owner = await insertOrFindOwner(svc, record, request);
	return finish(svc, ctx, owner ?? record);
}

/** Reserves and announces a RESERVING purchase, whichever request inserted it; a RESERVED one is done. */
async function finish(svc: Creator, ctx: Context, record: StoredPurchase): Promise<StoredPurchase> {
	if (record.reservationState === "RESERVED") return record;
	await reserve(svc, ctx, record);
	return announce(svc, ctx, record);
}

/** A RESERVING record of the request, priced from the catalog. */
async function priced(svc: Creator, ctx: Context<CreateParams>, request: IdempotentRequest): Promise<StoredPurchase> {
	const { items, customerId } = ctx.params;
	const catalog = (await ctx.call("products.getMany", { ids: items.map(i => i.productId) })) as ProductSnapshot[];
	const lines = priceItems(items, new Map(catalog.map(p => [p.id, p])));
	const order = { customerId: customerId ?? null, idempotencyKey: request.key && !request.key.derived ? request.key.key : null };
	return {
		...pendingPurchase(randomUUID(), lines, order, new Date(), appConfig(svc.broker).purchaseTtl * 1000),
		reservationState: "RESERVING",
		requestHash: request.fingerprint
	};
}

/** Inserts the row as RESERVING; null, or the purchase of the request that owns its key. */
async function insertOrFindOwner(svc: Creator, record: StoredPurchase, request: IdempotentRequest): Promise<StoredPurchase | null> {
	if (await svc.creationCommits.insert.add({ record, key: request.key })) return null;
	return ownerOfKey(svc.db, request);
}

/** Reserves the stock; a refusal deletes the row, any other failure gives the reservation up. */
async function reserve(svc: Creator, ctx: Context, record: StoredPurchase): Promise<void> {
	try {
		await ctx.call("inventory.reserve", { reservationId: record.id, items: record.items.map(({ productId, quantity }) => ({ productId, quantity })) });
	} catch (err) {
		if (NOT_RESERVED.has(String((err as { type?: string }).type))) await deleteReserving(svc.db, record.id);
		else await giveUp(svc, ctx, record);
		throw err;
	}
}

/** Marks the row RESERVED and writes `purchase.created`, in one transaction; a row another request finished is answered. */
async function announce(svc: Creator, ctx: Context, record: StoredPurchase): Promise<StoredPurchase> {
	const reserved: StoredPurchase = { ...record, reservationState: "RESERVED" };
	const marked = await svc.creationCommits.announce.add({ id: record.id, event: purchaseCreated(svc.name, reserved, originOf(ctx)) });
	if (marked) {
		countTransition(svc.broker, NO_STATUS, reserved);
		return reserved;
	}
	const finished = await findReserved(svc.db, record.id);
	if (finished) return finished;
	// The sweeper gave the row up meanwhile: what this request reserved goes too.
	await giveUp(svc, ctx, record);
	throw new IdempotentRequestInProgressError();
}

/**
 * A creation whose reservation may or may not exist (inventory failed or timed out), and
 * whose client gets an error: the row is abandoned (no request can finish it any more), the
 * reservation released and the row deleted, now rather than at the next sweep. Whatever
 * fails here is left to the sweeper, which does the same.
 */
async function giveUp(svc: Creator, ctx: Context, record: StoredPurchase): Promise<void> {
	try {
		await releaseAbandoned(svc.db, record.id, id => ctx.call("inventory.release", { reservationId: id }));
	} catch (err) {
		svc.logger.warn(`Purchase ${record.id} was given up; the sweeper releases its stock: ${(err as Error).message}`);
	}
}
