/**
 * Validation rules shared by the actions (fastest-validator), and the paging contract.
 * Each rule here is read twice: by the validator, and by the OpenAPI document
 * (services/api/openapi-schema.ts), which states what the rule's `openapi` says where
 * the rule's own keywords would count differently.
 */
import { toCents, MAX_PRICE, TWO_DECIMALS } from "../contracts/money";
import type { Total } from "./counts";

/** Messages of the custom rules below, registered with the broker's validator. */
export const VALIDATION_MESSAGES = {
	money: "The '{field}' field must be a number with at most two decimals.",
	dateTime: "The '{field}' field must be an RFC 3339 date-time (2026-12-01T10:00:00Z) between the years 1970 and 9999.",
	flag: "The '{field}' field must be true or false.",
	notNull: "The '{field}' field cannot be null: leave it out instead.",
	decimalInteger: "The '{field}' field must be a whole number written in decimal digits."
};

type CustomErrors = { type: string; expected?: unknown; actual: unknown }[];
type Custom = (value: unknown, errors: CustomErrors) => unknown;
type Rule = { custom?: Custom | Custom[]; nullable?: boolean; optional?: boolean } & Record<string, unknown>;

function refuseNull(value: unknown, errors: CustomErrors): unknown {
	if (value === null) errors.push({ type: "notNull", actual: value });
	return value;
}

const customsOf = (rule: Rule): Custom[] => (rule.custom === undefined ? [] : Array.isArray(rule.custom) ? rule.custom : [rule.custom]);

/**
 * The rule of a field that may be left out, but is never null: fastest-validator's
 * `optional` lets null through as well (its custom checks still run on it), so null is
 * refused here, with a 422 naming the field. A rule that says `nullable` keeps null.
 */
export function optional<T extends Rule>(rule: T): T & { optional: true } {
	const customs = customsOf(rule);
	if (rule.nullable === true || customs.includes(refuseNull)) return { ...rule, optional: true };
	return { ...rule, optional: true, custom: [...customs, refuseNull] };
}

/** The rule of a field that may be left out, or sent as null to empty it. */
export function clearable<T extends Rule>(rule: T): T & { optional: true; nullable: true } {
	return { ...rule, optional: true, nullable: true };
}

/** Code points, as JSON Schema's minLength and maxLength count them (an emoji is one, not two UTF-16 units). */
export function codePointLength(value: string): number {
	let length = 0;
	for (let i = 0; i < value.length; i++) {
		const unit = value.charCodeAt(i);
		// A high surrogate followed by a low one is one code point.
		if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < value.length) {
			const next = value.charCodeAt(i + 1);
			if (next >= 0xdc00 && next <= 0xdfff) i++;
		}
		length++;
	}
	return length;
}

interface TextRule {
	min?: number;
	max?: number;
	trim?: boolean;
	pattern?: RegExp;
}

/**
 * A string of `min` to `max` code points (after trimming, with `trim`). fastest-validator's
 * own `min` and `max` count UTF-16 units, so 150 emoji would be 300 and refused under a
 * limit of 200 that the document, counting code points, allows: the length is checked here
 * instead, and the document states the same limits as minLength and maxLength. A trimmed
 * string that must not be empty is, in the document's words, one with a character that is
 * not white space.
 */
export function text({ min, max, trim, pattern }: TextRule) {
	const openapi: Record<string, unknown> = {};
	if (min !== undefined) openapi.minLength = min;
	if (max !== undefined) openapi.maxLength = max;
	if (trim && min !== undefined && min > 0 && !pattern) openapi.pattern = "\\S";
	return {
		type: "string",
		...(trim ? { trim: true } : {}),
		...(pattern ? { pattern } : {}),
		openapi,
		custom(value: unknown, errors: CustomErrors) {
			if (typeof value !== "string") return value;
			const length = codePointLength(value);
			if (min !== undefined && length < min) errors.push({ type: "stringMin", expected: min, actual: length });
			if (max !== undefined && length > max) errors.push({ type: "stringMax", expected: max, actual: length });
			return value;
		}
	} as const;
}

/**
 * The UUIDs fastest-validator's `uuid` takes, in any case: the nil UUID, versions 1, 2 and
 * 6 of any variant, versions 3, 4, 5, 7 and 8 of the RFC 9562 variant. JSON Schema's
 * `format: uuid` takes any hex of that shape (and a `urn:uuid:` prefix), so the document
 * says this too.
 */
const UUID_PATTERN =
	"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-(?:[126][0-9a-fA-F]{3}-[0-9a-fA-F]{4}|[34578][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3})-[0-9a-fA-F]{12}|0{8}-0{4}-0{4}-0{4}-0{12})$";

/** A UUID, lower-cased: PostgreSQL compares UUIDs regardless of case, SQLite's text does not. */
export const uuid = {
	type: "uuid",
	openapi: { pattern: UUID_PATTERN },
	custom: (value: unknown) => (typeof value === "string" ? value.toLowerCase() : value)
} as const;

/** A non-negative price with at most two decimals (checked by `custom`; `openapi` says so in the document). */
export const money = {
	type: "number",
	min: 0,
	max: MAX_PRICE,
	openapi: TWO_DECIMALS,
	custom(value: unknown, errors: CustomErrors) {
		if (typeof value === "number" && toCents(value) === undefined)
			errors.push({ type: "money", actual: value });
		return value;
	}
} as const;

/** RFC 3339's date-time, which JSON Schema's `format: date-time` means: 2026-12-01T10:00:00Z, 2026-12-01T10:00:00.5+01:00. */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** A real calendar date: Date rolls 2026-02-30 over to March instead of refusing it. */
function isCalendarDate(year: number, month: number, day: number): boolean {
	const at = new Date(Date.UTC(year, month - 1, day));
	return at.getUTCMonth() === month - 1 && at.getUTCDate() === day;
}

/**
 * A date-time as the document says (RFC 3339), read as a Date; timestamps are compared as
 * ISO text, which holds for four-digit years only, so the year is 1970 to 9999.
 * fastest-validator's `date` with `convert` would read anything `new Date` reads ("1" is 2001).
 */
export const isoDate = {
	type: "string",
	openapi: { format: "date-time" },
	custom(value: unknown, errors: CustomErrors) {
		if (typeof value !== "string") return value;
		const parts = DATE_TIME.exec(value);
		const at = parts && isCalendarDate(Number(parts[1]), Number(parts[2]), Number(parts[3])) ? new Date(value) : undefined;
		const year = at?.getUTCFullYear();
		if (!at || Number.isNaN(at.getTime()) || year! < 1970 || year! > 9999) {
			errors.push({ type: "dateTime", actual: value });
			return value;
		}
		return at;
	}
} as const;

/** A query flag, true or false; fastest-validator's `convert` would also read 1, 0, on and off, which the document's boolean does not. */
export const queryFlag = {
	type: "any",
	openapi: { type: "boolean" },
	custom(value: unknown, errors: CustomErrors) {
		// Left out, or null (which `optional` refuses on its own): nothing to read here.
		if (value === undefined || value === null) return value;
		if (value === true || value === "true") return true;
		if (value === false || value === "false") return false;
		errors.push({ type: "flag", actual: value });
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

/**
 * A whole number from `min` to `max` given in a query: plain decimal digits ("20"), never
 * what `Number()` would also read ("0x14", "2e1", "20.0", " 20", ""), or a number from
 * another service's call. The document says `integer`, which is what this accepts.
 */
export function queryInteger(min: number, max: number, fallback: number) {
	return {
		type: "any",
		default: fallback,
		openapi: { type: "integer", minimum: min, maximum: max },
		custom(value: unknown, errors: CustomErrors) {
			const digits = typeof value === "string" && /^[0-9]+$/.test(value);
			const number = digits ? Number(value) : value;
			if (typeof number !== "number" || (!digits && !Number.isInteger(number))) {
				errors.push({ type: "decimalInteger", actual: value });
				return value;
			}
			if (number < min) errors.push({ type: "numberMin", expected: min, actual: number });
			if (number > max) errors.push({ type: "numberMax", expected: max, actual: number });
			return number;
		}
	} as const;
}

export const pageParams = {
	page: queryInteger(1, 1_000_000, 1),
	pageSize: queryInteger(1, 100, 20)
} as const;

/** Page numbers, and cursors for the lists that keep a key order (products, stock, the ledger, the audit trail). */
export const cursorPageParams = {
	...pageParams,
	/** A page's `nextCursor`: the page after it, found by key instead of by counting rows (page is then left out). */
	cursor: optional({
		type: "string",
		min: 1,
		max: 4000,
		pattern: /^[A-Za-z0-9_-]+$/,
		openapi: {
			description:
				"The `nextCursor` of a page of this list (same filters and sort): the page after it, started at its last item's sort key. Such a page has no `page` and no `total`; a cursor not handed out is a 400 INVALID_CURSOR, a `page` other than 1 with it a 422."
		}
	})
} as const;

export interface PageQuery {
	page: number;
	pageSize: number;
	cursor?: string;
}

/**
 * A page of a list. Asked for by number it has `page` and `total` (estimated past a limit,
 * then `totalEstimated` is true); asked for by `cursor` it has neither: counting is what a
 * cursor saves. Either way `nextCursor` leads to the next page, null on the last one (lists
 * without cursors have no `nextCursor`).
 */
export interface Page<T> {
	items: T[];
	page?: number;
	pageSize: number;
	total?: number;
	totalEstimated?: boolean;
	nextCursor?: string | null;
}

/** The answer to `query`: by number with its total, or by cursor without. */
export function pageOf<T>(query: PageQuery, items: T[], total: Total | number | undefined, nextCursor?: string | null): Page<T> {
	const next = nextCursor === undefined ? {} : { nextCursor };
	if (query.cursor !== undefined || total === undefined) return { items, pageSize: query.pageSize, ...next };
	const counted = typeof total === "number" ? { total, totalEstimated: false } : total;
	return { items, page: query.page, pageSize: query.pageSize, ...counted, ...next };
}

export function offsetOf(query: PageQuery): number {
	return (query.page - 1) * query.pageSize;
}

/** Header values the gateway takes; the OpenAPI document states these same patterns. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;
export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;
