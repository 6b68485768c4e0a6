import { Errors } from "moleculer";
import { age, fields, plural, table } from "../../lib/repl/render";
import { describeError } from "../../lib/repl/errors";
import { UnprocessableError, NotFoundError } from "../../contracts/errors";

describe("the REPL's plain text", () => {
	it("aligns a table's columns to their widest cell, numbers to the right, empty cells as -", () => {
		expect(table(["name", "count"], [["a", 1], ["longer", 120], ["none", null]], [1])).toBe(
			["name    count", "------  -----", "a           1", "longer    120", "none        -"].join("\n")
		);
	});

	it("aligns label and value pairs", () => {
		expect(fields([["on hand", 10], ["reserved", 3]])).toBe("  on hand   10\n  reserved  3");
	});

	it("tells an age in the unit an operator would use", () => {
		const now = Date.parse("2026-01-02T00:00:00Z");
		const ago = (seconds: number) => new Date(now - seconds * 1000).toISOString();
		expect([age(ago(5), now), age(ago(119), now), age(ago(120), now), age(ago(7199), now), age(ago(7200), now), age(ago(3 * 86_400), now), age(null, now)]).toEqual([
			"5 s",
			"119 s",
			"2 min",
			"120 min",
			"2 h",
			"3 d",
			"-"
		]);
		expect(age(new Date(now + 5000).toISOString(), now)).toBe("0 s");
	});

	it("says one thing, or many", () => {
		expect([plural(1, "item"), plural(2, "item"), plural(0, "entry", "entries")]).toEqual(["1 item", "2 items", "0 entries"]);
	});
});

describe("the REPL's one-line errors", () => {
	it("names the fields at fault, once each", () => {
		expect(describeError(new UnprocessableError([{ field: "productId", message: "The 'productId' field must be a valid UUID." }]))).toBe(
			"Invalid input: The 'productId' field must be a valid UUID."
		);
		expect(describeError(new UnprocessableError([{ field: "delta", message: "must not be 0" }, { field: "reason", message: "is required." }]))).toBe(
			"Invalid input: delta: must not be 0; reason: is required."
		);
	});

	it("says which service runs nowhere", () => {
		expect(describeError(new Errors.ServiceNotFoundError({ action: "purchases.sweep" }))).toBe("purchases is not running in this cluster (no node offers purchases.sweep).");
		expect(describeError(new Errors.ServiceNotAvailableError({ action: "inventory.get", nodeID: "n1" }))).toBe("inventory is not running in this cluster (no node offers inventory.get).");
	});

	it("gives any other error's message alone", () => {
		expect(describeError(new NotFoundError("No stock record for product x.", "STOCK_NOT_FOUND"))).toBe("No stock record for product x.");
		expect(describeError("plain")).toBe("plain");
	});
});
