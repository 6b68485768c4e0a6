/** The JSON Schema of what inventory's actions answer, for the OpenAPI document; typed against `Stock` and `Movement`, so they cannot drift. */
import { BOOLEAN, DATE_TIME, INTEGER, STRING, UUID, objectOf, oneOfStrings, orNull, pageSchemaOf, type JsonSchema } from "../../lib/json-schema";
import { MOVEMENT_REASONS, type Stock } from "./inventory.domain";
import type { Movement } from "./inventory.repository";

const COUNT = { ...INTEGER, minimum: 0 };

export const STOCK = objectOf<Stock>("Stock", {
	productId: UUID,
	onHand: COUNT,
	reserved: COUNT,
	available: COUNT,
	lowStockThreshold: COUNT,
	lowStock: BOOLEAN,
	version: { ...INTEGER, minimum: 1 },
	updatedAt: DATE_TIME
});

export const STOCK_PAGE = pageSchemaOf(STOCK, { cursors: true });

const MOVEMENT = objectOf<Movement>("Movement", {
	id: INTEGER,
	productId: UUID,
	delta: INTEGER,
	reason: oneOfStrings(MOVEMENT_REASONS),
	reference: orNull(STRING),
	onHandAfter: COUNT,
	reservedAfter: COUNT,
	at: DATE_TIME
});

export const MOVEMENT_PAGE = pageSchemaOf(MOVEMENT, { cursors: true });

/** An adjustment's delta is never 0, and a RESTOCK or a RETURN only adds (checkManualDelta, said as JSON Schema). */
export const ADJUSTMENT_RULES: JsonSchema = {
	properties: { delta: { not: { const: 0 } } },
	if: { properties: { reason: { enum: ["RESTOCK", "RETURN"] } }, required: ["reason"] },
	then: { properties: { delta: { type: "integer", exclusiveMinimum: 0 } } }
};
