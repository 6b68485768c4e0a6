/** Validation rules shared by the actions (fastest-validator), and the paging contract. */
import { toCents, MAX_PRICE, TWO_DECIMALS } from "../contracts/money";

/** Messages of the custom rules below, registered with the broker's validator. */
export const VALIDATION_MESSAGES = {
	money: "The '{field}' field must be a number with at most two decimals.",
	dateYears: "The '{field}' field must be a date between the years 1970 and 9999."
};

/** A UUID, lower-cased: PostgreSQL compares UUIDs regardless of case, SQLite's text does not. */
export const uuid = { type: "uuid", custom: (value: unknown) => (typeof value === "string" ? value.toLowerCase() : value) } as const;

/** A non-negative price with at most two decimals (checked by `custom`; `openapi` says so in the document). */
export const money = {
	type: "number",
	min: 0,
	max: MAX_PRICE,
	openapi: TWO_DECIMALS,
	custom(value: unknown, errors: { type: string; actual: unknown }[]) {
		if (typeof value === "number" && toCents(value) === undefined)
			errors.push({ type: "money", actual: value });
		return value;
	}
} as const;

/** A date given as text (ISO 8601); timestamps are compared as ISO text, which holds for four-digit years only. */
export const isoDate = {
	type: "date",
	convert: true,
	custom(value: unknown, errors: { type: string; actual: unknown }[]) {
		const year = value instanceof Date ? value.getUTCFullYear() : undefined;
		if (year !== undefined && (year < 1970 || year > 9999)) errors.push({ type: "dateYears", actual: value });
		return value;
	}
} as const;

/** The lines of an order: 1 to 100 products, each 1 to 10 000 units. */
export const orderItems = {
	type: "array",
	min: 1,
	max: 100,
	items: {
		type: "object",
		strict: true,
		props: { productId: uuid, quantity: { type: "number", integer: true, min: 1, max: 10_000 } }
	}
} as const;

export const pageParams = {
	page: { type: "number", integer: true, min: 1, max: 1_000_000, default: 1, convert: true },
	pageSize: { type: "number", integer: true, min: 1, max: 100, default: 20, convert: true }
} as const;

export interface PageQuery {
	page: number;
	pageSize: number;
}

export interface Page<T> {
	items: T[];
	page: number;
	pageSize: number;
	total: number;
}

export function pageOf<T>(query: PageQuery, items: T[], total: number): Page<T> {
	return { items, page: query.page, pageSize: query.pageSize, total };
}

export function offsetOf(query: PageQuery): number {
	return (query.page - 1) * query.pageSize;
}

/** Header values the gateway takes; the OpenAPI document states these same patterns. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;
export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;
