/**
 * Every statement inventory runs on its reservations table, through `db.rows`. Writes take
 * the caller's transaction; a row read to be changed is locked with `FOR UPDATE` on
 * PostgreSQL, while on SQLite the transaction holds the file's write lock already.
 */
import type { Transaction } from "sequelize";
import { toIso, type Database } from "../../lib/database";
import type { ReservationItem, ReservationStatus } from "./inventory.domain";

interface ReservationRow {
	id: string;
	status: ReservationStatus;
	items: string;
}

export interface Reservation {
	id: string;
	status: ReservationStatus;
	items: ReservationItem[];
}

function toReservation(row: ReservationRow): Reservation {
	return { id: row.id, status: row.status, items: JSON.parse(row.items) };
}

/** A reservation as operators read it: its items and when it was made and last changed. */
export interface ReservationView extends Reservation {
	createdAt: string;
	updatedAt: string;
}

/** One reservation, read without a lock; null when there is none of that id. */
export async function findReservation(db: Database, id: string): Promise<ReservationView | null> {
	const [row] = await db.rows<ReservationRow & { created_at: string | Date; updated_at: string | Date }>(
		"SELECT id, status, items, created_at, updated_at FROM reservations WHERE id = :id",
		{ id }
	);
	return row ? { ...toReservation(row), createdAt: toIso(row.created_at), updatedAt: toIso(row.updated_at) } : null;
}

/** Reads a reservation to change it in `tx`. */
export async function lockReservation(db: Database, tx: Transaction, id: string): Promise<Reservation | null> {
	const [row] = await db.rows<ReservationRow>(`SELECT id, status, items FROM reservations WHERE id = :id${db.lockFor(tx)}`, { id }, tx);
	return row ? toReservation(row) : null;
}

/** Inserts a reservation; a unique violation when one of that id exists. */
export async function insertReservation(db: Database, tx: Transaction, reservation: Reservation): Promise<void> {
	const now = new Date().toISOString();
	await db.rows(
		"INSERT INTO reservations (id, status, items, created_at, updated_at) VALUES (:id, :status, :items, :now, :now) RETURNING id",
		{ id: reservation.id, status: reservation.status, items: JSON.stringify(reservation.items), now },
		tx
	);
}

/** Inserts reservations unless one of the id exists (waiting for one being inserted); the ids inserted. */
export async function claimReservations(db: Database, tx: Transaction, reservations: Reservation[]): Promise<Set<string>> {
	const replacements: Record<string, unknown> = { now: new Date().toISOString() };
	const values = reservations.map((reservation, i) => {
		Object.assign(replacements, { [`id${i}`]: reservation.id, [`status${i}`]: reservation.status, [`items${i}`]: JSON.stringify(reservation.items) });
		return `(:id${i}, :status${i}, :items${i}, :now, :now)`;
	});
	const claimed = await db.rows<{ id: string }>(
		`INSERT INTO reservations (id, status, items, created_at, updated_at) VALUES ${values.join(", ")} ON CONFLICT (id) DO NOTHING RETURNING id`,
		replacements,
		tx
	);
	return new Set(claimed.map(row => row.id));
}

/** Deletes reservations inserted in `tx` that were refused after all. */
export async function deleteReservations(db: Database, tx: Transaction, ids: string[]): Promise<void> {
	await db.rows("DELETE FROM reservations WHERE id IN (:ids) RETURNING id", { ids }, tx);
}

/** The status of each of these reservations there is, read to change them in `tx`. */
export async function lockReservationStatuses(db: Database, tx: Transaction, ids: string[]): Promise<Map<string, ReservationStatus>> {
	const rows = await db.rows<{ id: string; status: ReservationStatus }>(`SELECT id, status FROM reservations WHERE id IN (:ids)${db.lockFor(tx)}`, { ids }, tx);
	return new Map(rows.map(row => [row.id, row.status]));
}

export async function setReservationStatus(db: Database, tx: Transaction, id: string, status: ReservationStatus): Promise<void> {
	await db.rows("UPDATE reservations SET status = :status, updated_at = :now WHERE id = :id RETURNING id", { status, now: new Date().toISOString(), id }, tx);
}

/** Ids of reservations still held that were made before `before`, oldest first. */
export async function heldReservationIds(db: Database, before: Date, limit: number): Promise<string[]> {
	const rows = await db.rows<{ id: string }>(
		"SELECT id FROM reservations WHERE status = 'HELD' AND created_at < :before ORDER BY created_at LIMIT :limit",
		{ before: before.toISOString(), limit }
	);
	return rows.map(r => r.id);
}
