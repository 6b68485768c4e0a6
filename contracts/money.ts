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
