/** Every statement on the products table, through the service's Database. */
import type { Transaction } from "sequelize";
import { isUniqueViolation, toIso, type Database } from "../../lib/database";
import type { ProductRecord, SortOrder } from "./products.domain";
import { DuplicateSkuError } from "./products.errors";

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

/** The column of each attribute `parseSort` may order by. */
const SORT_COLUMNS: Record<string, string> = {
	id: "id",
	name: "name",
	sku: "sku",
	priceCents: "price_cents",
	createdAt: "created_at",
	updatedAt: "updated_at"
};

export interface ProductFilter {
	/** Case-insensitive text in the name, sku or description. */
	q?: string;
	category?: string;
	active?: boolean;
}

/** One page of the products matching `filter` in `order`, and how many match in all. */
export async function findProductPage(
	db: Database,
	filter: ProductFilter,
	order: SortOrder,
	page: { limit: number; offset: number }
): Promise<{ records: ProductRecord[]; total: number }> {
	const conditions: string[] = [];
	if (filter.q) {
		const contains = db.dialect === "postgres" ? "strpos" : "instr";
		conditions.push(`(${["name", "sku", "description"].map(column => `${contains}(lower(${column}), :q) > 0`).join(" OR ")})`);
	}
	if (filter.category) conditions.push("category = :category");
	if (filter.active !== undefined) conditions.push("active = :active");
	const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "";
	const replacements = { q: filter.q?.toLowerCase(), category: filter.category, active: filter.active };
	const [{ total }] = await db.rows<{ total: number | string }>(`SELECT count(*) AS total FROM products ${where}`, replacements);
	const orderBy = order.map(([attribute, direction]) => `${SORT_COLUMNS[attribute]} ${direction}`).join(", ");
	const rows = await db.rows<ProductRow>(`SELECT ${COLUMNS} FROM products ${where} ORDER BY ${orderBy} LIMIT :limit OFFSET :offset`, {
		...replacements,
		...page
	});
	return { records: rows.map(toRecord), total: Number(total) };
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
