/**
 * JSON Schema (2020-12, the dialect of OpenAPI 3.1) of what actions answer, and the
 * `openapi` entry an action carries for the gateway's document: its summary, the schema of
 * its answer, and body rules its `params` cannot say. Schemas with a `title` become named
 * components of the document.
 */
import { MAX_PRICE, TWO_DECIMALS } from "../contracts/money";
import type { Page } from "./params";

export type JsonSchema = Record<string, unknown>;

/** What the OpenAPI document says of an action beyond its `rest` and `params`. */
export interface ActionDoc {
	/** The operation's one-line summary. */
	summary: string;
	/** The schema of a 2xx answer's body. */
	answers?: JsonSchema;
	/** Rules across body fields (JSON Schema keywords such as `allOf`), added to the request body's schema. */
	bodyRules?: JsonSchema;
}

declare module "moleculer" {
	interface ActionSchema {
		openapi?: ActionDoc;
	}
}

export const STRING: JsonSchema = { type: "string" };
export const INTEGER: JsonSchema = { type: "integer" };
export const BOOLEAN: JsonSchema = { type: "boolean" };
export const UUID: JsonSchema = { type: "string", format: "uuid" };
export const DATE_TIME: JsonSchema = { type: "string", format: "date-time" };
/** A price from the catalog. */
export const PRICE: JsonSchema = { type: "number", minimum: 0, maximum: MAX_PRICE, ...TWO_DECIMALS };
/** A sum of prices (a line or a purchase total), which may exceed one price's maximum. */
export const AMOUNT: JsonSchema = { type: "number", minimum: 0, ...TWO_DECIMALS };

/** The schema, or null. */
export function orNull(schema: JsonSchema): JsonSchema {
	return { ...schema, type: [schema.type, "null"] };
}

/** One of these strings. */
export function oneOfStrings(values: readonly string[]): JsonSchema {
	return { type: "string", enum: [...values] };
}

/**
 * The named schema of an object type T: every property of T, each required, no others.
 * The compiler refuses a property T does not have and asks for each one it has, so the
 * schema follows the type the handler returns.
 */
export function objectOf<T>(title: string, properties: { [K in keyof T]-?: JsonSchema }): JsonSchema {
	return { title, type: "object", properties, required: Object.keys(properties), additionalProperties: false };
}

/**
 * The named schema of a page of `item`, called `<item's title>Page`. A page asked for by
 * number has `page`, `total` and `totalEstimated` (true when the total is the planner's
 * estimate); a list with `cursors` also has `nextCursor` on every page, and a page asked for
 * by cursor has only `items`, `pageSize` and `nextCursor`.
 */
export function pageSchemaOf(item: JsonSchema, { cursors = false } = {}): JsonSchema {
	const { nextCursor, ...numbered } = objectOf<Page<unknown>>(`${String(item.title)}Page`, {
		items: { type: "array", items: item },
		page: { type: "integer", minimum: 1 },
		pageSize: { type: "integer", minimum: 1, maximum: 100 },
		total: { type: "integer", minimum: 0 },
		totalEstimated: BOOLEAN,
		nextCursor: { type: ["string", "null"], description: "Give as `cursor` for the next page; null on the last page." }
	}).properties as Record<string, JsonSchema>;
	const properties = cursors ? { ...numbered, nextCursor } : numbered;
	return {
		title: `${String(item.title)}Page`,
		type: "object",
		properties,
		required: cursors ? ["items", "pageSize", "nextCursor"] : ["items", "page", "pageSize", "total", "totalEstimated"],
		additionalProperties: false
	};
}
