import { findHostileInput, MAX_DEPTH } from "../../services/api/input-guard";

describe("findHostileInput", () => {
	it("lets ordinary bodies and queries through", () => {
		expect(findHostileInput({ items: [{ productId: "a", quantity: 1 }], customerId: "c-1" })).toBeUndefined();
		expect(findHostileInput({ q: "lamp", page: "2" })).toBeUndefined();
		expect(findHostileInput(undefined)).toBeUndefined();
		expect(findHostileInput({ name: "__proto__", constructor: "x" })).toBeUndefined();
	});

	it("names the field of a __proto__ key, as JSON.parse makes it an own key", () => {
		expect(findHostileInput(JSON.parse('{"a":{"__proto__":{"price":1}}}'))).toEqual({ field: "a.__proto__", message: "is not an accepted field name" });
	});

	it("names the field of a string with a NUL character, also inside arrays", () => {
		expect(findHostileInput({ items: [{ note: "a\u0000b" }] })).toEqual({ field: "items.0.note", message: "must not contain NUL characters" });
		expect(findHostileInput("a\u0000")).toEqual({ field: "(body)", message: "must not contain NUL characters" });
	});

	it("names the field of a string with a lone surrogate, high or low, and keeps surrogate pairs", () => {
		expect(findHostileInput({ name: "lone \ud800" })).toEqual({ field: "name", message: "must not contain lone surrogates (it is not well-formed Unicode)" });
		expect(findHostileInput({ items: [{ note: "\udc00 at the start" }] })).toMatchObject({ field: "items.0.note" });
		expect(findHostileInput({ q: "ends high \udbff" })).toMatchObject({ field: "q" });
		expect(findHostileInput({ q: "reversed \ude00\ud83d" })).toMatchObject({ field: "q" });
		expect(findHostileInput({ name: "pair \ud83d\ude00", other: "\u{10FFFF}" })).toBeUndefined();
	});

	it("refuses a field name with a lone surrogate without echoing it", () => {
		expect(findHostileInput(JSON.parse('{"a":{"\\ud800":1}}'))).toEqual({ field: "a", message: "has a field name with lone surrogates (it is not well-formed Unicode)" });
	});

	it("refuses nesting deeper than MAX_DEPTH without recursing into it", () => {
		let deep: unknown = 1;
		for (let i = 0; i < 100_000; i++) deep = [deep];
		expect(findHostileInput({ name: deep })).toMatchObject({ message: `is nested more than ${MAX_DEPTH} levels deep` });
		let fine: unknown = 1;
		for (let i = 0; i < MAX_DEPTH - 1; i++) fine = [fine];
		expect(findHostileInput(fine)).toBeUndefined();
	});
});
