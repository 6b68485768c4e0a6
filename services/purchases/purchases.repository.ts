/** Every statement on the purchases table: its row type and the one mapper. */
import type { Transaction } from "sequelize";
import { toIso, type Database } from "../../lib/database";
import { clientKeyOf, storedKey, type ScopedKey } from "../../lib/idempotency";
import type { PurchaseRecord, PurchaseStatus } from "./purchases.domain";

/** A row is RESERVING until inventory has reserved its stock; ABANDONED once the sweeper gave up on it. */
export type ReservationState = "RESERVING" | "RESERVED" | "ABANDONED";

/** A purchase as stored: the record plus how far its creation got and the request it came from. */
export interface StoredPurchase extends PurchaseRecord {
	reservationState: ReservationState;
	requestHash: string;
}

/** A purchases row as the drivers return it: PostgreSQL gives BIGINT as a string, SQLite times as text. */
interface PurchaseRow {
	id: string;
	status: PurchaseStatus;
	reservation_state: ReservationState;
	items: string;
	total_cents: number | string;
	currency: string;
	customer_id: string | null;
	idempotency_key: string | null;
	request_hash: string;
	expires_at: Date | string;
	cancel_reason: string | null;
	created_at: Date | string;
	updated_at: Date | string;
	confirmed_at: Date | string | null;
	completed_at: Date | string | null;
	cancelled_at: Date | string | null;
}

const COLUMNS =
	"id, status, reservation_state, items, total_cents, currency, customer_id, idempotency_key, request_hash, " +
	"expires_at, cancel_reason, created_at, updated_at, confirmed_at, completed_at, cancelled_at";

const isoOrNull = (value: Date | string | null) => (value == null ? null : toIso(value));

function toStored(row: PurchaseRow): StoredPurchase {
	return {
		id: row.id,
		status: row.status,
		reservationState: row.reservation_state,
		items: JSON.parse(row.items),
		totalCents: Number(row.total_cents),
		currency: row.currency,
		customerId: row.customer_id,
		idempotencyKey: clientKeyOf(row.idempotency_key),
		requestHash: row.request_hash,
		expiresAt: toIso(row.expires_at),
		cancelReason: row.cancel_reason,
		createdAt: toIso(row.created_at),
		updatedAt: toIso(row.updated_at),
		confirmedAt: isoOrNull(row.confirmed_at),
		completedAt: isoOrNull(row.completed_at),
		cancelledAt: isoOrNull(row.cancelled_at)
	};
}

/** A purchase whose creation finished; within `tx` its row is locked (PostgreSQL). */
export async function findReserved(db: Database, id: string, tx?: Transaction): Promise<StoredPurchase | null> {
	const [row] = await db.rows<PurchaseRow>(
		`SELECT ${COLUMNS} FROM purchases WHERE id = :id AND reservation_state = 'RESERVED'${db.lockFor(tx)}`,
		{ id },
		tx
	);
	return row ? toStored(row) : null;
}

/** The purchase created under this Idempotency-Key, however far its creation got. */
export async function findByIdempotencyKey(db: Database, key: ScopedKey): Promise<StoredPurchase | null> {
	const [row] = await db.rows<PurchaseRow>(`SELECT ${COLUMNS} FROM purchases WHERE idempotency_key = :key`, { key: storedKey(key) });
	return row ? toStored(row) : null;
}

/** A page of finished purchases, newest first. */
export async function listReserved(
	db: Database,
	filter: { status?: PurchaseStatus; customerId?: string },
	page: { limit: number; offset: number }
): Promise<{ rows: StoredPurchase[]; count: number }> {
	const conditions = ["reservation_state = 'RESERVED'"];
	if (filter.status) conditions.push("status = :status");
	if (filter.customerId) conditions.push("customer_id = :customerId");
	const where = `WHERE ${conditions.join(" AND ")}`;
	const [{ total }] = await db.rows<{ total: number | string }>(`SELECT count(*) AS total FROM purchases ${where}`, filter);
	const rows = await db.rows<PurchaseRow>(
		`SELECT ${COLUMNS} FROM purchases ${where} ORDER BY created_at DESC, id ASC LIMIT :limit OFFSET :offset`,
		{ ...filter, ...page }
	);
	return { rows: rows.map(toStored), count: Number(total) };
}

/** Whether any row, in any state, has this id. */
export async function exists(db: Database, id: string): Promise<boolean> {
	const [row] = await db.rows<{ id: string }>("SELECT id FROM purchases WHERE id = :id", { id });
	return row !== undefined;
}

/** A new purchase to insert as RESERVING, with the Idempotency-Key it is created under. */
export interface NewPurchase {
	record: StoredPurchase;
	key: ScopedKey | null;
}

/**
 * Inserts new purchases as RESERVING in one statement; the ids inserted. A purchase left out
 * has a taken Idempotency-Key (by an earlier request, or by another of these).
 */
export async function insertReserving(db: Database, purchases: NewPurchase[]): Promise<Set<string>> {
	const replacements: Record<string, unknown> = {};
	const values = purchases.map(({ record, key }, i) => {
		Object.assign(replacements, {
			[`id${i}`]: record.id,
			[`items${i}`]: JSON.stringify(record.items),
			[`totalCents${i}`]: record.totalCents,
			[`currency${i}`]: record.currency,
			[`customerId${i}`]: record.customerId,
			[`scopedKey${i}`]: key && storedKey(key),
			[`requestHash${i}`]: record.requestHash,
			[`expiresAt${i}`]: record.expiresAt,
			[`createdAt${i}`]: record.createdAt,
			[`updatedAt${i}`]: record.updatedAt
		});
		return `(:id${i}, 'PENDING', 'RESERVING', :items${i}, :totalCents${i}, :currency${i}, :customerId${i}, :scopedKey${i}, :requestHash${i}, :expiresAt${i}, :createdAt${i}, :updatedAt${i})`;
	});
	const inserted = await db.rows<{ id: string }>(
		`INSERT INTO purchases (id, status, reservation_state, items, total_cents, currency, customer_id,
		 idempotency_key, request_hash, expires_at, created_at, updated_at)
		 VALUES ${values.join(", ")} ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
		replacements
	);
	return new Set(inserted.map(row => row.id));
}

/** Deletes a row still RESERVING (inventory reserved nothing for it). */
export async function deleteReserving(db: Database, id: string): Promise<void> {
	await db.rows("DELETE FROM purchases WHERE id = :id AND reservation_state = 'RESERVING' RETURNING id", { id });
}

/** RESERVING -> RESERVED for each of `ids`; the ids marked (one the sweeper abandoned first is not). */
export async function markReserved(db: Database, tx: Transaction, ids: string[]): Promise<Set<string>> {
	const marked = await db.rows<{ id: string }>(
		"UPDATE purchases SET reservation_state = 'RESERVED' WHERE id IN (:ids) AND reservation_state = 'RESERVING' RETURNING id",
		{ ids },
		tx
	);
	return new Set(marked.map(row => row.id));
}

/** Writes `next`'s status and timestamps if the row is still at `previous`. */
export async function updateStatus(db: Database, tx: Transaction, next: StoredPurchase, previous: PurchaseStatus): Promise<boolean> {
	const [updated] = await db.rows(
		`UPDATE purchases SET status = :status, updated_at = :updatedAt, confirmed_at = :confirmedAt,
		 completed_at = :completedAt, cancelled_at = :cancelledAt, cancel_reason = :cancelReason
		 WHERE id = :id AND status = :previous RETURNING id`,
		{ ...next, previous },
		tx
	);
	return Boolean(updated);
}

/** Up to 100 PENDING purchases past their TTL at `now`, the longest overdue first. */
export async function idsDueToExpire(db: Database, now: string): Promise<string[]> {
	const due = await db.rows<{ id: string }>(
		"SELECT id FROM purchases WHERE status = 'PENDING' AND reservation_state = 'RESERVED' AND expires_at <= :now ORDER BY expires_at LIMIT 100",
		{ now }
	);
	return due.map(row => row.id);
}

/** Marks ABANDONED every row RESERVING since before `before`. */
export async function abandonReservingSince(db: Database, before: string): Promise<void> {
	await db.rows(
		"UPDATE purchases SET reservation_state = 'ABANDONED' WHERE reservation_state = 'RESERVING' AND created_at <= :before RETURNING id",
		{ before }
	);
}

/** Marks one row ABANDONED unless its creation finished; false when it is RESERVED or gone. */
export async function abandon(db: Database, id: string): Promise<boolean> {
	const [abandoned] = await db.rows(
		"UPDATE purchases SET reservation_state = 'ABANDONED' WHERE id = :id AND reservation_state IN ('RESERVING', 'ABANDONED') RETURNING id",
		{ id }
	);
	return Boolean(abandoned);
}

/** Up to 100 ABANDONED rows, the oldest first. */
export async function idsAbandoned(db: Database): Promise<string[]> {
	const abandoned = await db.rows<{ id: string }>("SELECT id FROM purchases WHERE reservation_state = 'ABANDONED' ORDER BY created_at LIMIT 100");
	return abandoned.map(row => row.id);
}

/** Deletes an ABANDONED row; false when it was already gone. */
export async function deleteAbandoned(db: Database, id: string): Promise<boolean> {
	const [deleted] = await db.rows("DELETE FROM purchases WHERE id = :id AND reservation_state = 'ABANDONED' RETURNING id", { id });
	return Boolean(deleted);
}
