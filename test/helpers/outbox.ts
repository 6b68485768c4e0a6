/**
 * What the services' outboxes hold, read from their own databases: the events a change
 * wrote, and whether each has been handed on to every consumer yet.
 */
import type { ServiceBroker } from "moleculer";
import { waitFor } from "./wait";
import type { DbServiceThis } from "../../mixins/db.mixin";
import type { EventEnvelope } from "../../contracts/events";

/** An outbox row (timestamps are strings on SQLite, dates on PostgreSQL). */
export interface OutboxRow {
	id: string;
	type: string;
	aggregate_id: string;
	envelope: string;
	/** The consumer groups still to hand the event to (JSON). */
	pending: string;
	published_at: string | Date | null;
	attempts: number;
	next_attempt_at: string | Date | null;
	last_error: string | null;
	parked_at: string | Date | null;
}

const SERVICES_WITH_OUTBOX = ["products", "inventory", "purchases"];

function outboxDb(broker: ServiceBroker, service: string) {
	return (broker.getLocalService(service) as unknown as DbServiceThis | undefined)?.db;
}

/** The rows of a service's outbox on this node, about one aggregate or all of them, in the order written. */
export function outboxOf(broker: ServiceBroker, service: string, aggregateId?: string): Promise<OutboxRow[]> {
	const db = outboxDb(broker, service);
	if (!db) throw new Error(`no ${service} service on node ${broker.nodeID}`);
	return db.rows<OutboxRow>(
		`SELECT id, type, aggregate_id, envelope, pending, published_at, attempts, next_attempt_at, last_error, parked_at FROM outbox
		 ${aggregateId === undefined ? "" : "WHERE aggregate_id = :aggregateId"} ORDER BY seq`,
		aggregateId === undefined ? {} : { aggregateId }
	);
}

/**
 * The events a service wrote to its outbox about an aggregate, in the order written, once
 * there is at least one and every one of them has been delivered (each consumer group,
 * audit among them, has acknowledged it): nothing about the aggregate is on its way still.
 */
export function delivered(broker: ServiceBroker, service: string, aggregateId: string, timeoutMs?: number): Promise<EventEnvelope[]> {
	return waitFor(async () => {
		const rows = await outboxOf(broker, service, aggregateId);
		return rows.length > 0 && rows.every(row => row.published_at !== null) && rows.map(row => JSON.parse(row.envelope) as EventEnvelope);
	}, timeoutMs);
}

/** Waits until no outbox of the node's services has an event left to hand on: no more sends are coming. */
export async function outboxesDrained(broker: ServiceBroker, timeoutMs?: number): Promise<void> {
	await waitFor(async () => {
		for (const service of SERVICES_WITH_OUTBOX) {
			const db = outboxDb(broker, service);
			if (!db) continue;
			const [row] = await db.rows<{ n: number | string }>("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL AND parked_at IS NULL");
			if (Number(row.n) > 0) return false;
		}
		return true;
	}, timeoutMs);
}
