import { fromCents, toCents } from "../../contracts/money";

describe("toCents", () => {
	it.each([
		[19.99, 1999],
		[0, 0],
		[10, 1000],
		[0.1, 10],
		[0.5, 50],
		[4.35, 435],
		[1.15, 115],
		[10_000_000, 1_000_000_000]
	])("converts %p to %p cents", (price, cents) => {
		expect(toCents(price)).toBe(cents);
	});

	it("refuses a price with three decimals instead of rounding it", () => {
		expect(toCents(19.999)).toBeUndefined();
	});

	it("refuses the inexact sum 0.1 + 0.2", () => {
		expect(toCents(0.1 + 0.2)).toBeUndefined();
	});

	it.each([-1, -0.01, -19.99])("refuses the negative price %p", price => {
		expect(toCents(price)).toBeUndefined();
	});

	it.each([NaN, Infinity, -Infinity])("refuses %p", price => {
		expect(toCents(price)).toBeUndefined();
	});

	it("refuses a price written in exponent form such as 1e21", () => {
		expect(toCents(1e21)).toBeUndefined();
	});

	it("refuses a price too small to have two decimals, such as 1e-7", () => {
		expect(toCents(1e-7)).toBeUndefined();
	});
});

describe("fromCents", () => {
	it.each([
		[1999, 19.99],
		[0, 0],
		[1000, 10],
		[10, 0.1]
	])("turns %p cents into %p", (cents, price) => {
		expect(fromCents(cents)).toBe(price);
	});

	it("round-trips every cent amount up to 100.00", () => {
		for (let cents = 0; cents <= 10_000; cents++) expect(toCents(fromCents(cents))).toBe(cents);
	});
});
