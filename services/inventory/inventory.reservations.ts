/**
 * Reservations as a group commit (lib/group-commit.ts): the reserves that arrive while one
 * batch is written go together in the next transaction. It claims their reservation rows,
 * locks the stock rows they need in product id order, plans them one after the other on
 * those locked rows (all items of a reservation or none, as conditional updates one after
 * the other would), and writes each record once, the ledger and the events in one statement
 * each. A refused reservation leaves nothing behind; a retry of a reservation answers the
 * outcome its row has.
 */
import type { Transaction } from "sequelize";
import type { EventOrigin } from "../../contracts/events";
import { GroupCommit } from "../../lib/group-commit";
import { answerAgain, planReservations, type ReservationItem, type ReservationStatus } from "./inventory.domain";
import { InsufficientStockError } from "./inventory.errors";
import { stockEvents } from "./inventory.events";
import { refreshStockCache } from "./inventory.cache";
import { insertMovements, lockStocks, updateStocks } from "./inventory.repository";
import { claimReservations, deleteReservations, lockReservationStatuses } from "./inventory.reservations.repository";
import type { InventoryThis } from "./inventory.changes";

/** A reserve call: its reservation id, its items sorted by product id, and the call's origin for the events. */
export interface ReserveRequest {
	reservationId: string;
	items: ReservationItem[];
	origin: EventOrigin;
}

/** What a reserve call answers: held, or the error it throws. */
export type ReserveOutcome = { reservationId: string; status: ReservationStatus } | { error: Error };

export type ReservationCommits = GroupCommit<ReserveRequest, ReserveOutcome>;

export function reservationCommits(svc: InventoryThis): ReservationCommits {
	return new GroupCommit(requests => svc.db.transaction(tx => reserveTogether(svc, tx, requests)));
}

/** The answer of a reserve call, or its error thrown. */
export async function reserve(commits: ReservationCommits, request: ReserveRequest): Promise<{ reservationId: string; status: ReservationStatus }> {
	const outcome = await commits.add(request);
	if ("error" in outcome) throw outcome.error;
	return outcome;
}

/** Answers without throwing: the answer a reserve call gives, or its error as the outcome. */
function outcomeOf(answer: () => { reservationId: string; status: ReservationStatus }): ReserveOutcome {
	try {
		return answer();
	} catch (err) {
		return { error: err as Error };
	}
}

async function reserveTogether(svc: InventoryThis, tx: Transaction, requests: ReserveRequest[]): Promise<ReserveOutcome[]> {
	const { db } = svc;
	// The same reservation twice in one batch: the first one claims it, the others answer its outcome.
	// In id order, so two batches that share a reservation (twins) claim rows in the same order.
	const firsts = [...new Map(requests.map(r => [r.reservationId, r])).values()].sort((x, y) => x.reservationId.localeCompare(y.reservationId));
	const claimed = await claimReservations(db, tx, firsts.map(r => ({ id: r.reservationId, status: "HELD", items: r.items })));
	const outcomes = new Map<string, ReserveOutcome>();
	const earlier = firsts.filter(r => !claimed.has(r.reservationId));
	if (earlier.length > 0) {
		// Made before (a retry) or by a concurrent call that won: its outcome is the answer.
		const statuses = await lockReservationStatuses(db, tx, earlier.map(r => r.reservationId));
		for (const { reservationId } of earlier) outcomes.set(reservationId, outcomeOf(() => answerAgain(reservationId, statuses.get(reservationId) ?? "unknown")));
	}
	const fresh = firsts.filter(r => claimed.has(r.reservationId));
	if (fresh.length > 0) {
		const productIds = [...new Set(fresh.flatMap(r => r.items.map(i => i.productId)))].sort();
		const records = await lockStocks(db, tx, productIds);
		const at = new Date().toISOString();
		const plan = planReservations(records, fresh.map(r => ({ id: r.reservationId, items: r.items })), at);
		if (plan.finals.size > 0) await updateStocks(db, tx, [...plan.finals.values()], new Map([...records].map(([id, r]) => [id, r.version])));
		await insertMovements(db, tx, plan.steps.map(({ after, change }) => ({ productId: after.productId, change, at })));
		const originOf = new Map(fresh.map(r => [r.reservationId, r.origin]));
		await svc.appendEvents(tx, plan.steps.flatMap(({ before, after, change }) => stockEvents(svc.name, before, after, change, originOf.get(change.reference!)!)));
		const refused = fresh.filter((_, i) => plan.refusals[i] !== null);
		if (refused.length > 0) await deleteReservations(db, tx, refused.map(r => r.reservationId));
		fresh.forEach(({ reservationId }, i) => {
			const short = plan.refusals[i];
			outcomes.set(reservationId, short ? { error: new InsufficientStockError(short) } : { reservationId, status: "HELD" });
		});
		for (const [productId, final] of plan.finals) db.afterCommit(tx, () => refreshStockCache(svc, productId, final));
	}
	return requests.map(r => outcomes.get(r.reservationId)!);
}
