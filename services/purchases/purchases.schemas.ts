/** The JSON Schema of what purchases' actions answer, for the OpenAPI document; typed against `Purchase`, so the two cannot drift. */
import type { PurchaseLine } from "../../contracts/events";
import { AMOUNT, DATE_TIME, INTEGER, PRICE, STRING, UUID, objectOf, oneOfStrings, orNull, pageSchemaOf } from "../../lib/json-schema";
import { PURCHASE_STATUSES, type Purchase } from "./purchases.domain";

const PURCHASE_LINE = objectOf<PurchaseLine>("PurchaseLine", {
	productId: UUID,
	sku: STRING,
	name: STRING,
	quantity: { ...INTEGER, minimum: 1 },
	unitPrice: PRICE,
	lineTotal: AMOUNT
});

export const PURCHASE = objectOf<Purchase>("Purchase", {
	id: UUID,
	status: oneOfStrings(PURCHASE_STATUSES),
	items: { type: "array", items: PURCHASE_LINE, minItems: 1 },
	total: AMOUNT,
	currency: { type: "string", pattern: "^[A-Z]{3}$" },
	customerId: orNull(STRING),
	idempotencyKey: orNull(STRING),
	expiresAt: DATE_TIME,
	cancelReason: orNull(STRING),
	createdAt: DATE_TIME,
	updatedAt: DATE_TIME,
	confirmedAt: orNull(DATE_TIME),
	completedAt: orNull(DATE_TIME),
	cancelledAt: orNull(DATE_TIME)
});

export const PURCHASE_PAGE = pageSchemaOf(PURCHASE);
