/** Every statement on the purchases table: its model, its row type and the one mapper. */
import { DataTypes, type Model, type ModelStatic, type Sequelize, type Transaction } from "sequelize";
import type { Database } from "../../lib/database";
import type { PurchaseRecord, PurchaseStatus } from "./purchases.domain";

const MODEL = "purchase";

/** A row is RESERVING until inventory has reserved its stock; ABANDONED once the sweeper gave up on it. */
export type ReservationState = "RESERVING" | "RESERVED" | "ABANDONED";

/** A purchase as stored: the record plus how far its creation got and the request it came from. */
export interface StoredPurchase extends PurchaseRecord {
	reservationState: ReservationState;
	requestHash: string;
}

/** The table's model, for the db mixin's `models`. */
export function definePurchaseModel(sequelize: Sequelize): ModelStatic<Model> {
	return sequelize.define(
		MODEL,
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

const modelOf = (db: Database) => db.sequelize.model(MODEL);

/** An Idempotency-Key with the caller it belongs to. */
export interface ScopedKey {
	caller: string;
	key: string;
}

/** A stored Idempotency-Key is one column: the caller, a colon, the key. */
const storedKey = (key: ScopedKey) => `${key.caller}:${key.key}`;

const iso = (value: unknown) => (value == null ? null : new Date(value as string).toISOString());

function toStored(model: Model): StoredPurchase {
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

async function findOne(db: Database, where: Record<string, unknown>, tx?: Transaction): Promise<StoredPurchase | null> {
	const model = await modelOf(db).findOne({
		where,
		transaction: tx,
		lock: tx && db.dialect === "postgres" ? tx.LOCK.UPDATE : undefined
	});
	return model ? toStored(model) : null;
}

/** A purchase whose creation finished; within `tx` its row is locked (PostgreSQL). */
export function findReserved(db: Database, id: string, tx?: Transaction): Promise<StoredPurchase | null> {
	return findOne(db, { id, reservationState: "RESERVED" }, tx);
}

/** The purchase created under this Idempotency-Key, however far its creation got. */
export function findByIdempotencyKey(db: Database, key: ScopedKey): Promise<StoredPurchase | null> {
	return findOne(db, { idempotencyKey: storedKey(key) });
}

/** A page of finished purchases, newest first. */
export async function listReserved(
	db: Database,
	filter: { status?: PurchaseStatus; customerId?: string },
	page: { limit: number; offset: number }
): Promise<{ rows: StoredPurchase[]; count: number }> {
	const { rows, count } = await modelOf(db).findAndCountAll({
		where: {
			reservationState: "RESERVED",
			...(filter.status ? { status: filter.status } : {}),
			...(filter.customerId ? { customerId: filter.customerId } : {})
		},
		order: [
			["createdAt", "DESC"],
			["id", "ASC"]
		],
		limit: page.limit,
		offset: page.offset
	});
	return { rows: rows.map(toStored), count };
}

/** Whether any row, in any state, has this id. */
export async function exists(db: Database, id: string): Promise<boolean> {
	return (await modelOf(db).count({ where: { id } })) > 0;
}

/** Inserts a new purchase as RESERVING; a unique violation means its Idempotency-Key is taken. */
export async function insertReserving(db: Database, record: StoredPurchase, key: ScopedKey | null): Promise<void> {
	await db.rows(
		`INSERT INTO purchases (id, status, reservation_state, items, total_cents, currency, customer_id,
		 idempotency_key, request_hash, expires_at, created_at, updated_at)
		 VALUES (:id, 'PENDING', 'RESERVING', :items, :totalCents, :currency, :customerId,
		 :scopedKey, :requestHash, :expiresAt, :createdAt, :updatedAt) RETURNING id`,
		{ ...record, items: JSON.stringify(record.items), scopedKey: key && storedKey(key) }
	);
}

/** Deletes a row still RESERVING (inventory reserved nothing for it). */
export async function deleteReserving(db: Database, id: string): Promise<void> {
	await db.rows("DELETE FROM purchases WHERE id = :id AND reservation_state = 'RESERVING' RETURNING id", { id });
}

/** RESERVING -> RESERVED; false when the sweeper abandoned the row first. */
export async function markReserved(db: Database, id: string, tx: Transaction): Promise<boolean> {
	const [marked] = await db.rows(
		"UPDATE purchases SET reservation_state = 'RESERVED' WHERE id = :id AND reservation_state = 'RESERVING' RETURNING id",
		{ id },
		tx
	);
	return Boolean(marked);
}

/** Writes `next`'s status and timestamps if the row is still at `previous`. */
export async function updateStatus(db: Database, next: StoredPurchase, previous: PurchaseStatus, tx: Transaction): Promise<boolean> {
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
