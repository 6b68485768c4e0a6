/** Every statement on the products table, through the service's Database. */
import type { Transaction } from "sequelize";
import { isUniqueViolation, toIso, type Database } from "../../lib/database";
import type { ProductRecord, SortOrder } from "./products.domain";
import { DuplicateSkuError } from "./products.errors";
import { selectPage, type KeyColumn, type KeyOrder, type PageRows, type PageWindow } from "../../lib/keyset";

/** A products row as the drivers return it: PostgreSQL gives BIGINT as a string, SQLite booleans as 0/1 and times as text. */
interface ProductRow {
	id: string;
	sku: string;
	name: string;
	description: string | null;
	category: string | null;
	price_cents: number | string;
	currency: string;
	active: boolean | number;
	version: number;
	created_at: Date | string;
	updated_at: Date | string;
}

const COLUMNS = "id, sku, name, description, category, price_cents, currency, active, version, created_at, updated_at";

function toRecord(row: ProductRow): ProductRecord {
	return {
		id: row.id,
		sku: row.sku,
		name: row.name,
		description: row.description,
		category: row.category,
		priceCents: Number(row.price_cents),
		currency: row.currency,
		active: Boolean(row.active),
		version: row.version,
		createdAt: toIso(row.created_at),
		updatedAt: toIso(row.updated_at)
	};
}

/** The column and kind of each attribute `parseSort` may order by. */
const SORT_COLUMNS: Record<string, Pick<KeyColumn, "column" | "kind">> = {
	id: { column: "id", kind: "uuid" },
	name: { column: "name", kind: "text" },
	sku: { column: "sku", kind: "text" },
	priceCents: { column: "price_cents", kind: "integer" },
	createdAt: { column: "created_at", kind: "timestamp" },
	updatedAt: { column: "updated_at", kind: "timestamp" }
};

/** The key order of a sort (which ends with the id, so every product has a key of its own). */
export function keyOrderOf(order: SortOrder): KeyOrder {
	return order.map(([attribute, direction]) => ({ attribute, direction, ...SORT_COLUMNS[attribute] }));
}

export interface ProductFilter {
	/** Case-insensitive text in the name, sku or description. */
	q?: string;
	category?: string;
	active?: boolean;
}

/** `text` as a LIKE pattern matching it anywhere, its % _ and \ taken literally. */
const containing = (text: string) => `%${text.replace(/[\\%_]/g, c => `\\${c}`)}%`;

/**
 * The WHERE of a filter. On PostgreSQL the text is matched with LIKE on lower(column), which
 * the trigram indexes of migration 4 serve (one per column, combined by a BitmapOr); SQLite
 * has no such index and looks for it in every row.
 */
function whereOf(db: Database, filter: ProductFilter): { conditions: string[]; replacements: Record<string, unknown> } {
	const conditions: string[] = [];
	if (filter.q) {
		const match = (column: string) =>
			db.dialect === "postgres" ? `lower(${column}) LIKE :pattern` : `instr(lower(${column}), :q) > 0`;
		conditions.push(`(${["name", "sku", "description"].map(match).join(" OR ")})`);
	}
	if (filter.category) conditions.push("category = :category");
	if (filter.active !== undefined) conditions.push("active = :active");
	const q = filter.q?.toLowerCase();
	return { conditions, replacements: { q, pattern: q === undefined ? undefined : containing(q), category: filter.category, active: filter.active } };
}

/** One page of the products matching `filter` in `order` (lib/keyset.ts). */
export function findProductPage(db: Database, filter: ProductFilter, order: KeyOrder, page: PageWindow): Promise<PageRows<ProductRecord>> {
	return selectPage(db, { columns: COLUMNS, table: "products", ...whereOf(db, filter), order }, page, toRecord);
}

/** The product `id`, or undefined; given `tx` on PostgreSQL its row stays locked until `tx` ends. */
export async function findProduct(db: Database, id: string, tx?: Transaction): Promise<ProductRecord | undefined> {
	const [row] = await db.rows<ProductRow>(`SELECT ${COLUMNS} FROM products WHERE id = :id${db.lockFor(tx)}`, { id }, tx);
	return row && toRecord(row);
}

/** The products among `ids` that exist, in no particular order. */
export async function findProducts(db: Database, ids: string[]): Promise<ProductRecord[]> {
	const rows = await db.rows<ProductRow>(`SELECT ${COLUMNS} FROM products WHERE id IN (:ids)`, { ids });
	return rows.map(toRecord);
}

/** Inserts `record`; a sku already taken (in any case) throws DuplicateSkuError. */
export async function insertProduct(db: Database, tx: Transaction, record: ProductRecord): Promise<void> {
	await uniqueSku(record.sku, () =>
		db.rows(
			`INSERT INTO products (${COLUMNS})
			 VALUES (:id, :sku, :name, :description, :category, :priceCents, :currency, :active, :version, :createdAt, :updatedAt)`,
			{ ...record },
			tx
		)
	);
}

/** Writes `next` over the row still at `previousVersion`; false when it was not (changed meanwhile). */
export async function updateProduct(db: Database, tx: Transaction, next: ProductRecord, previousVersion: number): Promise<boolean> {
	const [updated] = await uniqueSku(next.sku, () =>
		db.rows(
			`UPDATE products SET sku = :sku, name = :name, description = :description, category = :category,
			 price_cents = :priceCents, currency = :currency, active = :active, version = :version, updated_at = :updatedAt
			 WHERE id = :id AND version = :previousVersion RETURNING id`,
			{ ...next, previousVersion },
			tx
		)
	);
	return updated !== undefined;
}

/** Deletes the product `id` and returns its sku, or undefined when there was none. */
export async function deleteProduct(db: Database, tx: Transaction, id: string): Promise<string | undefined> {
	const [deleted] = await db.rows<{ sku: string }>("DELETE FROM products WHERE id = :id RETURNING sku", { id }, tx);
	return deleted?.sku;
}

async function uniqueSku<T>(sku: string, write: () => Promise<T>): Promise<T> {
	try {
		return await write();
	} catch (err) {
		if (isUniqueViolation(err)) throw new DuplicateSkuError(sku);
		throw err;
	}
}
