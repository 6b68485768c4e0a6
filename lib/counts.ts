/**
 * How many rows a list has, at a cost that does not grow with the table: rows are counted
 * exactly up to EXACT_COUNT_LIMIT (a bounded scan, cheap when an index serves the filter);
 * past it, PostgreSQL's planner estimate is given and marked as such. SQLite, embedded and
 * small, always counts exactly.
 */
import type { Database } from "./database";

export const EXACT_COUNT_LIMIT = 10_000;

export interface Total {
	total: number;
	/** True when `total` is the planner's estimate (more than EXACT_COUNT_LIMIT rows match). */
	totalEstimated: boolean;
}

/** The total of `SELECT ... FROM <from>` (`from` being "table WHERE ..."), exact up to `limit` rows. */
export async function countRows(db: Database, from: string, replacements: Record<string, unknown>, limit = EXACT_COUNT_LIMIT): Promise<Total> {
	if (db.dialect === "sqlite") {
		const [{ total }] = await db.rows<{ total: number | string }>(`SELECT count(*) AS total FROM ${from}`, replacements);
		return { total: Number(total), totalEstimated: false };
	}
	const [{ total }] = await db.rows<{ total: number | string }>(
		`SELECT count(*) AS total FROM (SELECT 1 FROM ${from} LIMIT :countLimit) AS bounded`,
		{ ...replacements, countLimit: limit + 1 }
	);
	if (Number(total) <= limit) return { total: Number(total), totalEstimated: false };
	const [plan] = await db.rows<{ "QUERY PLAN": [{ Plan: { "Plan Rows": number } }] }>(`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${from}`, replacements);
	// At least what was seen: the estimate of a rare filter may be lower than the rows counted.
	return { total: Math.max(Math.round(plan["QUERY PLAN"][0].Plan["Plan Rows"]), limit + 1), totalEstimated: true };
}
