/**
 * The sweeper: cancels PENDING purchases past their TTL, repairs rows whose creation never
 * finished and releases reservations no purchase knows. It is safe on any number of nodes:
 * every change is conditional on the state it read.
 */
import { randomUUID } from "node:crypto";
import type { Service } from "moleculer";
import type { Database } from "../../lib/database";
import type { PartHooks } from "../../lib/lifecycle";
import { appConfig } from "../../config/broker-config";
import type { EventOrigin } from "../../contracts/events";
import { isExpired, type StatusChange } from "./purchases.domain";
import { abandon, abandonReservingSince, deleteAbandoned, exists, idsAbandoned, idsDueToExpire, type StoredPurchase } from "./purchases.repository";

/**
 * How long a row may stay RESERVING before the sweeper repairs it: past a creation's own
 * time limit (10 s), so only rows whose node died and that no retry finished.
 */
const RESERVING_GRACE_MS = 15_000;

export interface SweepResult {
	expired: number;
	repaired: number;
	orphansReleased: number;
}

/** What the sweeper needs of the purchases service. */
export interface SweptService extends Pick<Service, "broker" | "logger"> {
	db: Database;
	changeStatus(id: string, origin: EventOrigin, decide: (current: StoredPurchase, now: string) => StatusChange | null): Promise<StoredPurchase | null>;
}

/** Sweeps every quarter TTL (0.25 to 5 s, jittered) while started; stopping waits for the sweep in flight. */
export function periodicSweeper(service: SweptService): PartHooks {
	const ttlMs = appConfig(service.broker).purchaseTtl * 1000;
	const every = Math.min(5000, Math.max(250, ttlMs / 4));
	let timer: NodeJS.Timeout | undefined;
	let sweeping: Promise<void> = Promise.resolve();
	let stopped = false;
	const tick = () => {
		timer = setTimeout(() => {
			sweeping = sweep(service)
				.then(() => undefined, err => service.logger.warn("Sweep failed:", (err as Error).message))
				.then(() => {
					if (!stopped) tick();
				});
		}, every * (0.8 + Math.random() * 0.4));
		timer.unref();
	};
	return {
		start: () => {
			stopped = false;
			tick();
		},
		stop: async () => {
			stopped = true;
			clearTimeout(timer);
			await sweeping;
		}
	};
}

/** Runs the three steps once, in order, and logs what they did. */
export async function sweep(service: SweptService, reservingGraceMs = RESERVING_GRACE_MS): Promise<SweepResult> {
	const now = Date.now();
	const origin = { correlationId: `sweep-${randomUUID()}`, actor: "system" };
	const ttlMs = appConfig(service.broker).purchaseTtl * 1000;
	const result: SweepResult = {
		expired: await expireOverdue(service, now, origin),
		repaired: await repairAbandoned(service, now - reservingGraceMs, origin),
		orphansReleased: await releaseOrphans(service, now - ttlMs - reservingGraceMs, origin)
	};
	if (result.expired + result.repaired + result.orphansReleased > 0) service.logger.info("Sweep:", result);
	return result;
}

/** Cancels, with their events, PENDING purchases past their TTL at `now`. */
async function expireOverdue(service: SweptService, now: number, origin: EventOrigin): Promise<number> {
	let expired = 0;
	for (const id of await idsDueToExpire(service.db, new Date(now).toISOString())) {
		const after = await service.changeStatus(id, origin, (current, at) => (isExpired(current, at) ? { status: "CANCELLED", reason: "expired" } : null));
		if (after) expired++;
	}
	return expired;
}

/**
 * A row RESERVING since before `before` is first marked ABANDONED, so a create still running
 * can no longer mark it RESERVED; then its stock is released, and only then the row goes.
 * A release that fails leaves the row ABANDONED for the next sweep.
 */
async function repairAbandoned(service: SweptService, before: number, origin: EventOrigin): Promise<number> {
	let repaired = 0;
	await abandonReservingSince(service.db, new Date(before).toISOString());
	for (const id of await idsAbandoned(service.db)) {
		try {
			if (await releaseAbandoned(service.db, id, reservationId => service.broker.call("inventory.release", { reservationId }, { meta: { correlationId: origin.correlationId } })))
				repaired++;
		} catch (err) {
			service.logger.warn(`Sweep: the reservation of abandoned purchase ${id} was not released (${(err as Error).message}); next sweep.`);
		}
	}
	return repaired;
}

/**
 * Abandons a row (unless it is already), so no request can mark it RESERVED any more, then
 * releases its reservation and deletes it; false when it was finished or gone. A release that
 * throws leaves the row ABANDONED, for the next sweep.
 */
export async function releaseAbandoned(db: Database, id: string, release: (reservationId: string) => Promise<unknown>): Promise<boolean> {
	if (!(await abandon(db, id))) return false;
	await release(id);
	return deleteAbandoned(db, id);
}

/** Releases reservations held since before `before` whose purchase row does not exist. */
async function releaseOrphans(service: SweptService, before: number, origin: EventOrigin): Promise<number> {
	let released = 0;
	const held = (await service.broker.call("inventory.heldReservations", { before: new Date(before).toISOString() })) as string[];
	for (const reservationId of held) {
		if (await exists(service.db, reservationId)) continue;
		await service.broker.call("inventory.release", { reservationId }, { meta: { correlationId: origin.correlationId } });
		released++;
	}
	return released;
}
