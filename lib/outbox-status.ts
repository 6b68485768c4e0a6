/**
 * What an operator reads of a service's outbox: how many events wait and since when, and
 * the events the relay gave up on (parked), newest first.
 */
import { toIso, type Database } from "./database";

export interface OutboxBacklog {
	/** Events not yet taken by every destination, parked ones left out. */
	pending: number;
	/** When the oldest of them was written; null when none waits. */
	oldestPendingAt: string | null;
	parked: number;
}

export interface ParkedEvent {
	id: string;
	type: string;
	aggregateId: string;
	attempts: number;
	parkedAt: string;
	/** The last failure's message, as the relay recorded it. */
	lastError: string | null;
}

export async function outboxBacklog(db: Database): Promise<OutboxBacklog> {
	const [row] = await db.rows<{ pending: number | string; oldest: string | Date | null; parked: number | string }>(
		`SELECT SUM(CASE WHEN parked_at IS NULL THEN 1 ELSE 0 END) AS pending,
		 MIN(CASE WHEN parked_at IS NULL THEN created_at END) AS oldest,
		 SUM(CASE WHEN parked_at IS NULL THEN 0 ELSE 1 END) AS parked
		 FROM outbox WHERE published_at IS NULL`
	);
	return { pending: Number(row?.pending ?? 0), oldestPendingAt: row?.oldest ? toIso(row.oldest) : null, parked: Number(row?.parked ?? 0) };
}

export async function parkedEvents(db: Database, limit: number): Promise<ParkedEvent[]> {
	const rows = await db.rows<{ id: string; type: string; aggregate_id: string; attempts: number; parked_at: string | Date; last_error: string | null }>(
		`SELECT id, type, aggregate_id, attempts, parked_at, last_error FROM outbox
		 WHERE parked_at IS NOT NULL AND published_at IS NULL ORDER BY parked_at DESC, seq DESC LIMIT :limit`,
		{ limit }
	);
	return rows.map(row => ({
		id: row.id,
		type: row.type,
		aggregateId: row.aggregate_id,
		attempts: Number(row.attempts),
		parkedAt: toIso(row.parked_at),
		lastError: row.last_error
	}));
}
