/** The JSON Schema of what products' actions answer, for the OpenAPI document; typed against `Product`, so the two cannot drift. */
import { BOOLEAN, DATE_TIME, INTEGER, PRICE, STRING, UUID, objectOf, orNull, pageSchemaOf } from "../../lib/json-schema";
import type { Product } from "./products.domain";

export const PRODUCT = objectOf<Product>("Product", {
	id: UUID,
	sku: STRING,
	name: STRING,
	description: orNull(STRING),
	category: orNull(STRING),
	price: PRICE,
	currency: { type: "string", pattern: "^[A-Z]{3}$" },
	active: BOOLEAN,
	version: { ...INTEGER, minimum: 1 },
	createdAt: DATE_TIME,
	updatedAt: DATE_TIME
});

export const PRODUCT_PAGE = pageSchemaOf(PRODUCT, { cursors: true });
