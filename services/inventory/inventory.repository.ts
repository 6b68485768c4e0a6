/**
 * Every statement inventory runs on its stocks and stock_movements tables, through
 * `db.rows` (the reservations table's are in inventory.reservations.repository.ts). Writes take the caller's transaction; a row read to be changed is
 * locked with `FOR UPDATE` on PostgreSQL, while on SQLite the transaction holds the
 * file's write lock already.
 */
import type { Transaction } from "sequelize";
import { columnTypes, toIso, type Database } from "../../lib/database";
import { selectPage, type KeyOrder, type PageRows, type PageWindow } from "../../lib/keyset";
import type { MovementReason, StockChange, StockRecord } from "./inventory.domain";

interface StockRow {
	product_id: string;
	on_hand: number;
	reserved: number;
	low_stock_threshold: number;
	low_stock: boolean | number;
	version: number;
	created_at: string | Date;
	updated_at: string | Date;
}

const STOCK_COLUMNS = "product_id, on_hand, reserved, low_stock_threshold, low_stock, version, created_at, updated_at";

function toStockRecord(row: StockRow): StockRecord {
	return {
		productId: row.product_id,
		onHand: Number(row.on_hand),
		reserved: Number(row.reserved),
		lowStockThreshold: Number(row.low_stock_threshold),
		lowStock: Boolean(row.low_stock),
		version: Number(row.version),
		createdAt: toIso(row.created_at),
		updatedAt: toIso(row.updated_at)
	};
}

interface MovementRow {
	id: number | string;
	product_id: string;
	delta: number;
	reason: MovementReason;
	reference: string | null;
	on_hand_after: number;
	reserved_after: number;
	at: string | Date;
}

/** One ledger entry: what a change did to a product's stock and the levels it left. */
export interface Movement {
	id: number;
	productId: string;
	delta: number;
	reason: MovementReason;
	reference: string | null;
	onHandAfter: number;
	reservedAfter: number;
	at: string;
}

function toMovement(row: MovementRow): Movement {
	return {
		id: Number(row.id),
		productId: row.product_id,
		delta: Number(row.delta),
		reason: row.reason,
		reference: row.reference,
		onHandAfter: Number(row.on_hand_after),
		reservedAfter: Number(row.reserved_after),
		at: toIso(row.at)
	};
}

/** Stock records, most recently changed first. */
export const STOCK_ORDER: KeyOrder = [
	{ attribute: "updatedAt", column: "updated_at", direction: "DESC", kind: "timestamp" },
	{ attribute: "productId", column: "product_id", direction: "ASC", kind: "uuid" }
];

/** A product's ledger, newest first. */
export const MOVEMENT_ORDER: KeyOrder = [{ attribute: "id", column: "id", direction: "DESC", kind: "integer" }];

/** A page of stock records, most recently changed first. */
export function listStocks(db: Database, lowStock: boolean | undefined, page: PageWindow): Promise<PageRows<StockRecord>> {
	return selectPage(
		db,
		{ columns: STOCK_COLUMNS, table: "stocks", conditions: lowStock === undefined ? [] : ["low_stock = :lowStock"], replacements: { lowStock }, order: STOCK_ORDER },
		page,
		toStockRecord
	);
}

export async function findStock(db: Database, productId: string): Promise<StockRecord | null> {
	const [row] = await db.rows<StockRow>(`SELECT ${STOCK_COLUMNS} FROM stocks WHERE product_id = :productId`, { productId });
	return row ? toStockRecord(row) : null;
}

/**
 * Writes each of `next` over its record in one statement, each conditionally on the version
 * in `previous` (by product id); throws when one had changed (the records are locked, so never).
 */
export async function updateStocks(db: Database, tx: Transaction, next: StockRecord[], previous: ReadonlyMap<string, number>): Promise<void> {
	const replacements: Record<string, unknown> = { ids: next.map(r => r.productId) };
	const cases = (column: string, value: (r: StockRecord, i: number) => string) =>
		`${column} = CASE product_id ${next.map((r, i) => `WHEN :id${i} THEN ${value(r, i)}`).join(" ")} END`;
	next.forEach((r, i) =>
		Object.assign(replacements, {
			[`id${i}`]: r.productId,
			[`onHand${i}`]: r.onHand,
			[`reserved${i}`]: r.reserved,
			[`threshold${i}`]: r.lowStockThreshold,
			[`lowStock${i}`]: r.lowStock,
			[`version${i}`]: r.version,
			[`updatedAt${i}`]: r.updatedAt,
			[`previous${i}`]: previous.get(r.productId)
		})
	);
	const updated = await db.rows(
		`UPDATE stocks SET ${[
			cases("on_hand", (_, i) => `:onHand${i}`),
			cases("reserved", (_, i) => `:reserved${i}`),
			cases("low_stock_threshold", (_, i) => `:threshold${i}`),
			cases("low_stock", (_, i) => `:lowStock${i}`),
			cases("version", (_, i) => `:version${i}`),
			// A CASE of literals is text to PostgreSQL: the timestamp needs its type.
			cases("updated_at", (_, i) => `CAST(:updatedAt${i} AS ${columnTypes(db.dialect).timestamp})`)
		].join(", ")}
		 WHERE product_id IN (:ids) AND version = CASE product_id ${next.map((_, i) => `WHEN :id${i} THEN :previous${i}`).join(" ")} END
		 RETURNING product_id`,
		replacements,
		tx
	);
	if (updated.length !== next.length) throw new Error(`${next.length - updated.length} of ${next.length} stock records changed under their row locks`);
}

/** Reads a stock row to change it in `tx`. */
export async function lockStock(db: Database, tx: Transaction, productId: string): Promise<StockRecord | null> {
	const [row] = await db.rows<StockRow>(
		`SELECT ${STOCK_COLUMNS} FROM stocks WHERE product_id = :productId${db.lockFor(tx)}`,
		{ productId },
		tx
	);
	return row ? toStockRecord(row) : null;
}

/** Reads stock rows to change them in `tx`, locked in product id order (the order every writer locks in, so none deadlock). */
export async function lockStocks(db: Database, tx: Transaction, productIds: string[]): Promise<Map<string, StockRecord>> {
	const rows = await db.rows<StockRow>(
		`SELECT ${STOCK_COLUMNS} FROM stocks WHERE product_id IN (:productIds) ORDER BY product_id${db.lockFor(tx)}`,
		{ productIds },
		tx
	);
	return new Map(rows.map(row => [row.product_id, toStockRecord(row)]));
}

/** Opens a stock record; false when the product has one already. */
export async function insertStock(db: Database, tx: Transaction, record: StockRecord): Promise<boolean> {
	const created = await db.rows(
		`INSERT INTO stocks (${STOCK_COLUMNS})
		 VALUES (:productId, :onHand, :reserved, :lowStockThreshold, :lowStock, :version, :createdAt, :updatedAt)
		 ON CONFLICT (product_id) DO NOTHING RETURNING product_id`,
		{ ...record },
		tx
	);
	return created.length > 0;
}

/** Deletes a stock record and returns the version it had, or null when there was none. */
export async function deleteStock(db: Database, tx: Transaction, productId: string): Promise<number | null> {
	const [deleted] = await db.rows<{ version: number }>("DELETE FROM stocks WHERE product_id = :productId RETURNING version", { productId }, tx);
	return deleted ? Number(deleted.version) : null;
}

/** Writes `next` over the record if it still has version `previous`; false when it does not. */
export async function updateStock(db: Database, tx: Transaction, next: StockRecord, previous: number): Promise<boolean> {
	const updated = await db.rows(
		`UPDATE stocks SET on_hand = :onHand, reserved = :reserved, low_stock_threshold = :lowStockThreshold,
		 low_stock = :lowStock, version = :version, updated_at = :updatedAt
		 WHERE product_id = :productId AND version = :previous RETURNING product_id`,
		{ ...next, previous },
		tx
	);
	return updated.length > 0;
}

/** Ledger entries in one statement, in order: each change's delta and the levels it left. */
export async function insertMovements(db: Database, tx: Transaction, entries: { productId: string; change: StockChange; at: string }[]): Promise<void> {
	if (entries.length === 0) return;
	const replacements: Record<string, unknown> = {};
	const values = entries.map(({ productId, change, at }, i) => {
		Object.assign(replacements, {
			[`productId${i}`]: productId,
			[`delta${i}`]: change.delta,
			[`reason${i}`]: change.reason,
			[`reference${i}`]: change.reference,
			[`onHand${i}`]: change.levels.onHand,
			[`reserved${i}`]: change.levels.reserved,
			[`at${i}`]: at
		});
		return `(:productId${i}, :delta${i}, :reason${i}, :reference${i}, :onHand${i}, :reserved${i}, :at${i})`;
	});
	await db.rows(
		`INSERT INTO stock_movements (product_id, delta, reason, reference, on_hand_after, reserved_after, at) VALUES ${values.join(", ")} RETURNING id`,
		replacements,
		tx
	);
}

/** A page of a product's ledger, newest first. */
export function listMovements(db: Database, productId: string, page: PageWindow): Promise<PageRows<Movement>> {
	return selectPage(
		db,
		{
			columns: "id, product_id, delta, reason, reference, on_hand_after, reserved_after, at",
			table: "stock_movements",
			conditions: ["product_id = :productId"],
			replacements: { productId },
			order: MOVEMENT_ORDER
		},
		page,
		toMovement
	);
}

/** The stock figures inventory's gauges show, in one aggregate over stocks. */
export interface StockTotals {
	lowStockProducts: number;
	outOfStockProducts: number;
	reservedUnits: number;
}

export async function stockTotals(db: Database): Promise<StockTotals> {
	const [row] = await db.rows<{ low: number | string | null; out: number | string | null; reserved: number | string | null }>(
		`SELECT SUM(CASE WHEN low_stock THEN 1 ELSE 0 END) AS low, SUM(CASE WHEN on_hand - reserved <= 0 THEN 1 ELSE 0 END) AS out,
		 SUM(reserved) AS reserved FROM stocks`
	);
	return { lowStockProducts: Number(row?.low ?? 0), outOfStockProducts: Number(row?.out ?? 0), reservedUnits: Number(row?.reserved ?? 0) };
}
