/**
 * Keyset (cursor) pagination: a page starts after the sort key of the previous page's last
 * row, so its cost does not grow with how deep it is, and a row inserted meanwhile never
 * shifts the rows after it into or out of the page (as OFFSET would). The cursor is opaque
 * to clients: the sort it belongs to and the key values of that last row, in base64url JSON.
 */
import { InvalidCursorError, UnprocessableError } from "../contracts/errors";
import { offsetOf, type PageQuery } from "./params";
import { countRows, type Total } from "./counts";
import type { Database } from "./database";

/** What a key column holds: checked when a cursor is read, so a forged one never reaches SQL as the wrong type. */
export type KeyKind = "text" | "integer" | "timestamp" | "uuid";

export interface KeyColumn {
	/** The attribute of the item the value is read from. */
	attribute: string;
	/** The SQL column (or expression) the rows are ordered by. */
	column: string;
	direction: "ASC" | "DESC";
	kind: KeyKind;
}

/** The ordering of a list: its last column must be unique, so every row has a key of its own. */
export type KeyOrder = KeyColumn[];

type KeyValue = string | number;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

const fits: Record<KeyKind, (value: unknown) => boolean> = {
	text: value => typeof value === "string" && value.length <= 2000,
	integer: value => Number.isSafeInteger(value),
	timestamp: value => typeof value === "string" && ISO.test(value) && !Number.isNaN(Date.parse(value)),
	uuid: value => typeof value === "string" && UUID.test(value)
};

/** Names the ordering, so a cursor made under one sort is refused under another. */
function signatureOf(order: KeyOrder): string {
	return order.map(key => `${key.attribute}:${key.direction}`).join(",");
}

/** The cursor of the page after `item`. */
export function cursorAfter(order: KeyOrder, item: Record<string, unknown>): string {
	const values = order.map(key => item[key.attribute]);
	return Buffer.from(JSON.stringify({ s: signatureOf(order), v: values })).toString("base64url");
}

/** The key values a cursor holds; an unreadable cursor, or one of another sort, is a 400 INVALID_CURSOR. */
export function readCursor(order: KeyOrder, cursor: string): KeyValue[] {
	let parsed: unknown;
	try {
		parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
	} catch {
		throw new InvalidCursorError("it cannot be read");
	}
	const { s, v } = (parsed ?? {}) as { s?: unknown; v?: unknown };
	if (s !== signatureOf(order)) throw new InvalidCursorError("it belongs to another sort order");
	if (!Array.isArray(v) || v.length !== order.length || !order.every((key, i) => fits[key.kind](v[i])))
		throw new InvalidCursorError("its position cannot be read");
	return v as KeyValue[];
}

/**
 * The SQL condition "after `values` in `order`", with its replacements named `<prefix>0..n`:
 * (a after x) OR (a = x AND b after y) ..., led by a bound on the first column alone so an
 * index on it starts the scan at the cursor instead of filtering every row before it.
 */
export function afterCondition(order: KeyOrder, values: KeyValue[], prefix = "after"): { sql: string; replacements: Record<string, KeyValue> } {
	const name = (i: number) => `:${prefix}${i}`;
	const beyond = (key: KeyColumn) => (key.direction === "ASC" ? ">" : "<");
	const alternatives = order.map((key, i) => {
		const equalBefore = order.slice(0, i).map((previous, j) => `${previous.column} = ${name(j)}`);
		return `(${[...equalBefore, `${key.column} ${beyond(key)} ${name(i)}`].join(" AND ")})`;
	});
	const lead = `${order[0].column} ${beyond(order[0])}= ${name(0)}`;
	const replacements = Object.fromEntries(values.map((value, i) => [`${prefix}${i}`, value]));
	return { sql: `${lead} AND (${alternatives.join(" OR ")})`, replacements };
}

/** ORDER BY of `order`. */
export function orderBy(order: KeyOrder): string {
	return order.map(key => `${key.column} ${key.direction}`).join(", ");
}

/** The items of a page fetched with one row more than `limit`, and the cursor of the next page (null on the last). */
export function pageWithNext<T extends object>(order: KeyOrder, fetched: T[], limit: number): { items: T[]; nextCursor: string | null } {
	const items = fetched.slice(0, limit);
	const nextCursor = fetched.length > limit ? cursorAfter(order, items[items.length - 1] as Record<string, unknown>) : null;
	return { items, nextCursor };
}

/** The rows a page query asks for: after its cursor's key (read under `order`), or at its page number's offset. */
export function windowOf(query: PageQuery, order: KeyOrder): PageWindow {
	if (query.cursor === undefined) return { limit: query.pageSize, offset: offsetOf(query) };
	// A page number with a cursor says two places to start; 1 is also the default, so it passes.
	if (query.page !== 1) throw new UnprocessableError([{ field: "page", message: "cannot be given with a cursor: the cursor says where the page starts", type: "pageWithCursor" }]);
	return { limit: query.pageSize, offset: 0, after: readCursor(order, query.cursor) };
}

/** Where a page starts: `windowOf`'s answer. */
export interface PageWindow {
	limit: number;
	offset: number;
	/** The key values of a cursor: the page starts after them, and no total is counted. */
	after?: KeyValue[];
}

export interface PageRows<T> {
	items: T[];
	/** Counted (lib/counts.ts) for a page by number only. */
	total?: Total;
	nextCursor: string | null;
}

/**
 * A page of `SELECT columns FROM table WHERE conditions` in `order`: at the window's offset
 * with its total, or after its cursor without. One row more than the page is read to know
 * whether there is a next one.
 */
export async function selectPage<Row, T extends object>(
	db: Database,
	query: { columns: string; table: string; conditions: string[]; replacements: Record<string, unknown>; order: KeyOrder },
	page: PageWindow,
	toItem: (row: Row) => T
): Promise<PageRows<T>> {
	const { columns, table, conditions, replacements, order } = query;
	const where = (all: string[]) => (all.length > 0 ? ` WHERE ${all.join(" AND ")}` : "");
	const total = page.after ? undefined : await countRows(db, `${table}${where(conditions)}`, replacements);
	const keyed = page.after ? afterCondition(order, page.after) : undefined;
	const fetched = await db.rows<Row>(
		`SELECT ${columns} FROM ${table}${where(keyed ? [...conditions, keyed.sql] : conditions)} ORDER BY ${orderBy(order)} LIMIT :limit OFFSET :offset`,
		{ ...replacements, ...keyed?.replacements, limit: page.limit + 1, offset: page.after ? 0 : page.offset }
	);
	return { ...pageWithNext(order, fetched.map(toItem), page.limit), total };
}
