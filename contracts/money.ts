/** Money is exact: integer cents inside, a number with at most two decimals outside. */

export const MAX_PRICE = 10_000_000;

/**
 * Converts a price to integer cents, or returns undefined when its shortest decimal
 * form has more than two decimals: 19.99 -> 1999, but 19.999 or 0.1 + 0.2 is refused
 * instead of being rounded.
 */
export function toCents(price: number): number | undefined {
	return /^\d+(\.\d{1,2})?$/.test(String(price)) ? Math.round(price * 100) : undefined;
}

export function fromCents(cents: number): number {
	return cents / 100;
}

/**
 * Money in the OpenAPI document: at most two decimals, exactly. JSON Schema's `multipleOf: 0.01` cannot say it:
 * validators divide in binary floating point and refuse 19.99. The rule is in the
 * description and in `x-decimal-places` for tools that read it.
 */
export const TWO_DECIMALS: Record<string, unknown> = {
	description: "A decimal amount with at most two decimals (19.99), exact: never rounded, 19.999 is refused.",
	"x-decimal-places": 2
};
