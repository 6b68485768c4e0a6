import {
	applyChanges,
	generateSku,
	parseSort,
	toProduct,
	toSnapshot,
	type ProductRecord
} from "../../services/products/products.domain";

/** Runs `fn` and returns what it threw. */
function thrown(fn: () => unknown): unknown {
	try {
		fn();
	} catch (err) {
		return err;
	}
	throw new Error("expected the call to throw");
}

/** A deterministic `random` for generateSku: bytes 0..5 map to the suffix "ABCDEF". */
const counting = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i));

function record(overrides: Partial<ProductRecord> = {}): ProductRecord {
	return {
		id: "0b6d6c3e-3f1a-4d2b-9a57-6f1f5b1e2c3d",
		sku: "BLUE-MUG-ABCDEF",
		name: "Blue mug",
		description: "A mug, blue.",
		category: "kitchen",
		priceCents: 1299,
		currency: "EUR",
		active: false,
		version: 3,
		createdAt: "2024-01-01T00:00:00.000Z",
		updatedAt: "2024-01-02T00:00:00.000Z",
		...overrides
	};
}

describe("generateSku", () => {
	it("builds the sku from the upper-cased name and a random suffix", () => {
		expect(generateSku("Blue mug", counting)).toBe("BLUE-MUG-ABCDEF");
	});

	it("asks for six random bytes", () => {
		const random = jest.fn(counting);
		generateSku("Blue mug", random);
		expect(random).toHaveBeenCalledWith(6);
	});

	it("maps every byte onto the 32-character alphabet without 0, 1, I or O", () => {
		const sku = generateSku("x", () => Buffer.from([31, 32, 255, 8, 13, 24]));
		expect(sku).toBe("X-9A9JP2");
	});

	it("collapses punctuation and spaces into single dashes and trims them at the ends", () => {
		expect(generateSku("  --Mug (large), 0.5 l!!", counting)).toBe("MUG-LARGE-0-5-L-ABCDEF");
	});

	it("drops accents instead of splitting words at them", () => {
		expect(generateSku("Crème brûlée", counting)).toBe("CREME-BRULEE-ABCDEF");
	});

	it.each(["!!!", "   ", "☕☕", "茶"])("gives a name without letters or digits (%p) the SKU prefix", name => {
		expect(generateSku(name, counting)).toBe("SKU-ABCDEF");
	});

	it("cuts a long name to its first 24 characters", () => {
		const sku = generateSku("Professional espresso machine deluxe", counting);
		expect(sku).toBe("PROFESSIONAL-ESPRESSO-MA-ABCDEF");
	});

	it("leaves no dash at the end of the stem when the cut lands on one", () => {
		// The 24th character of "AN-EXTRAORDINARILY-LONG-PRODUCT" is a dash.
		const sku = generateSku("An extraordinarily long product name", counting);
		expect(sku).toBe("AN-EXTRAORDINARILY-LONG-ABCDEF");
	});

	it("uses crypto randomness by default", () => {
		expect(generateSku("Blue mug")).toMatch(/^BLUE-MUG-[A-HJ-NP-Z2-9]{6}$/);
	});
});

describe("parseSort", () => {
	it("sorts newest first by default, then by id", () => {
		expect(parseSort(undefined)).toEqual([
			["createdAt", "DESC"],
			["id", "ASC"]
		]);
	});

	it("keeps the given order of fields and ends with the id as tiebreaker", () => {
		expect(parseSort("name,-price")).toEqual([
			["name", "ASC"],
			["priceCents", "DESC"],
			["id", "ASC"]
		]);
	});

	it("ignores spaces and empty terms", () => {
		expect(parseSort(" sku , ,-updatedAt ")).toEqual([
			["sku", "ASC"],
			["updatedAt", "DESC"],
			["id", "ASC"]
		]);
	});

	it("rejects an unknown field with a 422 naming the sort parameter", () => {
		expect(thrown(() => parseSort("name,colour"))).toMatchObject({
			code: 422,
			type: "VALIDATION_ERROR",
			data: [{ field: "sort", message: expect.stringContaining('"colour"'), type: "sort" }]
		});
	});

	it("rejects the column name priceCents, which is not a public field", () => {
		expect(thrown(() => parseSort("priceCents"))).toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
	});

	it("rejects a lone dash", () => {
		expect(thrown(() => parseSort("-"))).toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
	});

	it.each(["constructor", "toString", "__proto__", "-hasOwnProperty"])(
		"rejects the inherited object key %p as an unknown field",
		sort => {
			expect(thrown(() => parseSort(sort))).toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
		}
	);
});

describe("applyChanges", () => {
	describe("in merge mode", () => {
		it("changes only the given fields and names them", () => {
			const current = record();
			const { next, changed } = applyChanges(current, { name: "Red mug", category: null }, "merge");
			expect(next).toEqual({ ...current, name: "Red mug", category: null });
			expect(changed).toEqual(["name", "category"]);
		});

		it("reports a changed priceCents as price", () => {
			const { next, changed } = applyChanges(record(), { priceCents: 1499 }, "merge");
			expect(next.priceCents).toBe(1499);
			expect(changed).toEqual(["price"]);
		});

		it("ignores fields given as undefined", () => {
			const current = record();
			const { next, changed } = applyChanges(current, { name: undefined, description: undefined }, "merge");
			expect(next).toEqual(current);
			expect(changed).toEqual([]);
		});

		it("reports nothing when every given value equals the current one", () => {
			const current = record();
			const { next, changed } = applyChanges(
				current,
				{ name: current.name, priceCents: current.priceCents, active: current.active },
				"merge"
			);
			expect(next).toEqual(current);
			expect(changed).toEqual([]);
		});

		it("does not modify the current record", () => {
			const current = record();
			const copy = { ...current };
			applyChanges(current, { name: "Red mug" }, "merge");
			expect(current).toEqual(copy);
		});
	});

	describe("in replace mode", () => {
		it("resets description and category to null and active to true, keeping the sku and currency", () => {
			const current = record({ currency: "USD" });
			const { next, changed } = applyChanges(current, { name: current.name, priceCents: current.priceCents }, "replace");
			expect(next).toEqual({ ...current, description: null, category: null, active: true });
			expect([...changed].sort()).toEqual(["active", "category", "description"]);
		});

		it("resets the fields the update action passes as undefined", () => {
			// products.service's changesFrom() always lists every editable field, undefined when left out.
			const current = record();
			const { next, changed } = applyChanges(
				current,
				{
					sku: undefined,
					name: current.name,
					description: undefined,
					category: undefined,
					priceCents: current.priceCents,
					currency: undefined,
					active: undefined
				},
				"replace"
			);
			expect(next).toEqual({ ...current, description: null, category: null, active: true });
			expect([...changed].sort()).toEqual(["active", "category", "description"]);
		});

		it("takes the given values over the defaults", () => {
			const current = record();
			const { next, changed } = applyChanges(
				current,
				{ name: "Red mug", priceCents: 999, description: "Red.", category: "kitchen", active: false, sku: "RED-MUG" },
				"replace"
			);
			expect(next).toEqual({
				...current,
				name: "Red mug",
				priceCents: 999,
				description: "Red.",
				sku: "RED-MUG"
			});
			expect([...changed].sort()).toEqual(["description", "name", "price", "sku"]);
		});

		it("reports nothing when the product already has the defaults and the given values", () => {
			const current = record({ description: null, category: null, active: true });
			const { changed } = applyChanges(current, { name: current.name, priceCents: current.priceCents }, "replace");
			expect(changed).toEqual([]);
		});
	});
});

describe("toProduct", () => {
	it("shows the price in currency units and keeps every other field", () => {
		const current = record();
		const rest: Partial<ProductRecord> = { ...current };
		delete rest.priceCents;
		expect(toProduct(current)).toEqual({ ...rest, price: 12.99 });
	});

	it("has no priceCents field", () => {
		expect(toProduct(record())).not.toHaveProperty("priceCents");
	});
});

describe("toSnapshot", () => {
	it("is the product without its timestamps", () => {
		const snapshot = toSnapshot(record());
		expect(snapshot).toMatchObject({ sku: "BLUE-MUG-ABCDEF", price: 12.99, version: 3 });
		expect(snapshot).not.toHaveProperty("createdAt");
		expect(snapshot).not.toHaveProperty("updatedAt");
	});
});
