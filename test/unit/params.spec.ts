/**
 * The shared validation rules, checked by the broker's own validator and by the OpenAPI
 * schema the document makes of them (ajv): both must take the same values.
 */
import fc from "fast-check";
import { createBrokerOptions } from "../../moleculer.config";
import { loadConfig } from "../../config/env";
import { clearable, codePointLength, optional, pageParams, queryInteger, text, uuid } from "../../lib/params";
import { isRequired, ruleToSchema } from "../../services/api/openapi-schema";
import { createAjv } from "../helpers/contract";

type Check = (params: object) => true | { type: string; field: string; message: string }[] | Promise<unknown>;

// The broker's own validator, with the options and messages the nodes run with.
const validator = createBrokerOptions(loadConfig({ NODE_ENV: "test", METRICS_PORT: "0" })).validator as unknown as { compile(schema: object): Check };

/** The server's verdict on one field's value under `rule`: true, or the error types. */
function server(rule: object, value: unknown): true | string[] {
	const params: Record<string, unknown> = value === undefined ? {} : { field: value };
	const result = validator.compile({ field: rule })(params);
	return result === true ? true : (result as { type: string }[]).map(e => e.type);
}

/** The same field's value after validation (what the action sees). */
function sanitized(rule: object, value: unknown): unknown {
	const params: Record<string, unknown> = { field: value };
	expect(validator.compile({ field: rule })(params)).toBe(true);
	return params.field;
}

const ajv = createAjv();
const documentAccepts = (rule: object, value: unknown) => ajv.compile(ruleToSchema(rule))(value);

const EMOJI = "\u{1F600}";

describe("text", () => {
	it("counts code points: 150 emoji fit a limit of 200, 201 do not", () => {
		const name = text({ trim: true, min: 1, max: 200 });
		expect(server(name, EMOJI.repeat(150))).toBe(true);
		expect(server(name, EMOJI.repeat(200))).toBe(true);
		expect(server(name, EMOJI.repeat(201))).toEqual(["stringMax"]);
		expect(server(name, " \t\n")).toEqual(["stringMin"]);
		expect(server(name, 42)).toEqual(["string"]);
		expect(sanitized(name, "  Desk Lamp ")).toBe("Desk Lamp");
	});

	it("is described in the document with the same limits", () => {
		expect(ruleToSchema(text({ trim: true, min: 1, max: 200 }))).toEqual({ type: "string", minLength: 1, maxLength: 200, pattern: "\\S" });
		expect(ruleToSchema(text({ max: 2000 }))).toEqual({ type: "string", maxLength: 2000 });
		expect(ruleToSchema(clearable(text({ trim: true, min: 1, max: 100 })))).toEqual({ type: ["string", "null"], minLength: 1, maxLength: 100, pattern: "\\S" });
	});

	// Characters that count differently in UTF-16 units, code points and after trimming.
	const tricky = fc.constantFrom(EMOJI, "e\u0301", " ", "\t", "\u00a0", "\u3000", "a", "\u{10FFFF}", "\uFEFF");
	const strings = fc.string({ unit: fc.oneof(tricky, fc.constantFrom("x", "Z")), maxLength: 7 });

	it("takes every string the document allows and, untrimmed, only those", () => {
		const rules = [text({ min: 2, max: 5 }), text({ max: 3 }), text({ min: 1, max: 4, trim: true })];
		fc.assert(
			fc.property(strings, fc.nat({ max: rules.length - 1 }), (value, index) => {
				const rule = rules[index];
				const accepted = server(rule, value) === true;
				if (documentAccepts(rule, value)) expect(accepted).toBe(true);
				// Trimming makes the server take more: " ab " is "ab" to it, and four long to the document.
				if (value === value.trim() || !("trim" in rule)) expect(documentAccepts(rule, value)).toBe(accepted);
			}),
			{ seed: 20261201, numRuns: 2000 }
		);
	});

	it("counts a lone surrogate as one code point, as ajv does", () => {
		expect(codePointLength("a\ud800b")).toBe(3);
		expect(codePointLength(`${EMOJI}\udc00`)).toBe(2);
		expect(codePointLength("")).toBe(0);
	});
});

describe("optional and clearable", () => {
	it("refuses null for a field that may only be left out, keeping the rule's own checks", () => {
		const sku = optional(text({ max: 3 }));
		expect(server(sku, undefined)).toBe(true);
		expect(server(sku, null)).toEqual(["notNull"]);
		expect(server(sku, "abcd")).toEqual(["stringMax"]);
		expect(server(optional({ type: "number", integer: true, min: 0 }), null)).toEqual(["notNull"]);
		expect(server(optional({ type: "boolean" }), null)).toEqual(["notNull"]);
		expect(server(optional(sku), null)).toEqual(["notNull"]);
	});

	it("lets null through where it empties the field", () => {
		const category = clearable(text({ min: 1, max: 3 }));
		expect(server(category, null)).toBe(true);
		expect(server(optional(category), null)).toBe(true);
		expect(server(category, "abcd")).toEqual(["stringMax"]);
	});

	it("is optional in the document, and null only where it is clearable", () => {
		expect(isRequired(optional(text({ max: 3 })))).toBe(false);
		expect(documentAccepts(optional(text({ max: 3 })), null)).toBe(false);
		expect(documentAccepts(clearable(text({ max: 3 })), null)).toBe(true);
	});
});

describe("queryInteger", () => {
	const page = queryInteger(1, 1000, 1);

	it("reads plain decimal digits as their number, and a number as it is", () => {
		expect(sanitized(page, "2")).toBe(2);
		expect(sanitized(page, "0010")).toBe(10);
		expect(sanitized(page, 7)).toBe(7);
		const params: Record<string, unknown> = {};
		expect(validator.compile({ page })(params)).toBe(true);
		expect(params.page).toBe(1);
	});

	it("refuses anything Number() would read but digits do not write", () => {
		for (const value of ["0x10", "1e3", "1.0", " 1", "1 ", "+1", "-1", "", "0b1", "0o7", "1_0", "Infinity", "NaN", 1.5, Number.NaN, true, ["1"], {}])
			expect(server(page, value)).toEqual(["decimalInteger"]);
	});

	it("refuses numbers out of range with the range's message", () => {
		expect(server(page, "0")).toEqual(["numberMin"]);
		expect(server(page, "1001")).toEqual(["numberMax"]);
		expect(server(page, "9".repeat(400))).toEqual(["numberMax"]);
	});

	it("is an integer with its range and default in the document", () => {
		expect(ruleToSchema(pageParams.page)).toEqual({ type: "integer", minimum: 1, maximum: 1_000_000, default: 1 });
		expect(ruleToSchema(pageParams.pageSize)).toEqual({ type: "integer", minimum: 1, maximum: 100, default: 20 });
		expect(isRequired(pageParams.page)).toBe(false);
	});
});

describe("uuid", () => {
	const hex = fc.constantFrom(..."0123456789abcdefABCDEF");
	const hexes = (length: number) => fc.string({ unit: hex, minLength: length, maxLength: length });
	const shaped = fc.tuple(hexes(8), hexes(4), hexes(4), hexes(4), hexes(12)).map(parts => parts.join("-"));
	const ids = fc.oneof(shaped, fc.uuid().map(id => id.toUpperCase()), fc.constantFrom("00000000-0000-0000-0000-000000000000", "urn:uuid:6f9619ff-8b86-4011-b42d-00cf4fc964ff", "6f9619ff8b864011b42d00cf4fc964ff"));

	it("is in the document exactly what the server takes", () => {
		fc.assert(
			fc.property(ids, id => {
				expect(documentAccepts(uuid, id)).toBe(server(uuid, id) === true);
			}),
			{ seed: 20261201, numRuns: 3000 }
		);
	});
});
