import {
	MAX_ON_HAND,
	available,
	changeOnHand,
	checkManualDelta,
	crossings,
	isLowStock,
	toStock,
	type StockLevels,
	type StockRecord
} from "../../services/inventory/inventory.domain";

/** Runs `fn` and returns what it threw. */
function thrown(fn: () => unknown): unknown {
	try {
		fn();
	} catch (err) {
		return err;
	}
	throw new Error("expected the call to throw");
}

const productId = "5f0c2d8e-7b44-4b8a-b0f3-2a9d6f1c4e77";

function stock(overrides: Partial<StockRecord> = {}): StockRecord {
	return {
		productId,
		onHand: 20,
		reserved: 5,
		lowStockThreshold: 10,
		lowStock: false,
		version: 2,
		createdAt: "2024-01-01T00:00:00.000Z",
		updatedAt: "2024-01-02T00:00:00.000Z",
		...overrides
	};
}

const levels = (onHand: number, reserved = 0, lowStockThreshold = 10): StockLevels => ({
	onHand,
	reserved,
	lowStockThreshold
});

describe("changeOnHand", () => {
	it("adds a positive delta to on-hand stock and keeps reserved and threshold", () => {
		expect(changeOnHand(stock(), 7)).toEqual({ onHand: 27, reserved: 5, lowStockThreshold: 10 });
	});

	it("takes on-hand stock down to exactly what is reserved", () => {
		expect(changeOnHand(stock(), -15)).toEqual({ onHand: 5, reserved: 5, lowStockThreshold: 10 });
	});

	it("takes on-hand stock down to zero when nothing is reserved", () => {
		expect(changeOnHand(stock({ reserved: 0 }), -20)).toMatchObject({ onHand: 0 });
	});

	it("refuses to go below what is reserved with a 409 carrying the levels", () => {
		expect(thrown(() => changeOnHand(stock(), -16))).toMatchObject({
			code: 409,
			type: "STOCK_BELOW_RESERVED",
			data: { productId, onHand: 20, reserved: 5, requested: 4 }
		});
	});

	it("refuses an increase past MAX_ON_HAND with a 409, but lets a decrease through from above it", () => {
		expect(changeOnHand(stock({ onHand: MAX_ON_HAND - 1 }), 1)).toMatchObject({ onHand: MAX_ON_HAND });
		expect(thrown(() => changeOnHand(stock({ onHand: MAX_ON_HAND }), 1))).toMatchObject({
			code: 409,
			type: "STOCK_LIMIT_EXCEEDED",
			data: { productId, onHand: MAX_ON_HAND, requested: MAX_ON_HAND + 1, limit: MAX_ON_HAND }
		});
		// A returned sale may have taken stock above the limit; taking some away must still work.
		expect(changeOnHand(stock({ onHand: MAX_ON_HAND + 5 }), -1)).toMatchObject({ onHand: MAX_ON_HAND + 4 });
	});

	it("refuses to go below zero when nothing is reserved", () => {
		expect(thrown(() => changeOnHand(stock({ reserved: 0 }), -21))).toMatchObject({
			code: 409,
			type: "STOCK_BELOW_RESERVED",
			data: { productId, onHand: 20, reserved: 0, requested: -1 }
		});
	});

	it("names the product and the reserved units in the message", () => {
		const err = thrown(() => changeOnHand(stock(), -16)) as Error;
		expect(err.message).toContain(productId);
		expect(err.message).toContain("5 units are reserved");
	});
});

describe("available", () => {
	it("is on-hand minus reserved", () => {
		expect(available(levels(20, 5))).toBe(15);
	});
});

describe("isLowStock", () => {
	it("is false above the threshold", () => {
		expect(isLowStock(levels(11))).toBe(false);
	});

	it("is true at the threshold", () => {
		expect(isLowStock(levels(10))).toBe(true);
	});

	it("is true below the threshold", () => {
		expect(isLowStock(levels(3))).toBe(true);
	});

	it("counts what is available, not what is on hand", () => {
		expect(isLowStock(levels(30, 25))).toBe(true);
	});

	it("with a zero threshold is true only when nothing is available", () => {
		expect(isLowStock(levels(1, 0, 0))).toBe(false);
		expect(isLowStock(levels(1, 1, 0))).toBe(true);
	});
});

describe("crossings", () => {
	it("reports becameLow when available stock crosses the threshold from above", () => {
		expect(crossings(levels(12), levels(10))).toEqual({ becameLow: true, ranOut: false });
	});

	it("reports becameLow when a reservation takes available stock below the threshold", () => {
		expect(crossings(levels(20, 5), levels(20, 15))).toEqual({ becameLow: true, ranOut: false });
	});

	it("does not report becameLow again when stock was already low", () => {
		expect(crossings(levels(8), levels(5))).toEqual({ becameLow: false, ranOut: false });
	});

	it("reports nothing while stock stays above the threshold", () => {
		expect(crossings(levels(50), levels(40))).toEqual({ becameLow: false, ranOut: false });
	});

	it("reports nothing when stock rises", () => {
		expect(crossings(levels(5), levels(50))).toEqual({ becameLow: false, ranOut: false });
	});

	it("reports both when stock drops from above the threshold straight to zero", () => {
		expect(crossings(levels(20), levels(0))).toEqual({ becameLow: true, ranOut: true });
	});

	it("reports ranOut alone when already-low stock reaches zero", () => {
		expect(crossings(levels(3), levels(0))).toEqual({ becameLow: false, ranOut: true });
	});

	it("reports ranOut when the last available units are reserved", () => {
		expect(crossings(levels(5, 2), levels(5, 5))).toEqual({ becameLow: false, ranOut: true });
	});

	it("does not report ranOut again when stock stays at zero", () => {
		expect(crossings(levels(0), levels(0))).toEqual({ becameLow: false, ranOut: false });
	});

	it("reports both for a new record opened at zero", () => {
		expect(crossings(null, levels(0))).toEqual({ becameLow: true, ranOut: true });
	});

	it("reports becameLow alone for a new record opened at or below the threshold", () => {
		expect(crossings(null, levels(10))).toEqual({ becameLow: true, ranOut: false });
	});

	it("reports nothing for a new record opened above the threshold", () => {
		expect(crossings(null, levels(11))).toEqual({ becameLow: false, ranOut: false });
	});

	it("reports becameLow when the threshold is raised above available stock", () => {
		expect(crossings(levels(15, 0, 10), levels(15, 0, 20))).toEqual({ becameLow: true, ranOut: false });
	});
});

describe("checkManualDelta", () => {
	it.each(["RESTOCK", "ADJUSTMENT", "RETURN"] as const)("refuses a zero delta for %s", reason => {
		expect(checkManualDelta(reason, 0)).toBe("The 'delta' field must not be 0.");
	});

	it.each(["RESTOCK", "RETURN"] as const)("refuses a negative delta for %s", reason => {
		expect(checkManualDelta(reason, -1)).toContain(`A ${reason} adds stock`);
	});

	it.each(["RESTOCK", "ADJUSTMENT", "RETURN"] as const)("accepts a positive delta for %s", reason => {
		expect(checkManualDelta(reason, 5)).toBeUndefined();
	});

	it("accepts a negative ADJUSTMENT", () => {
		expect(checkManualDelta("ADJUSTMENT", -3)).toBeUndefined();
	});
});

describe("toStock", () => {
	it("computes available and leaves out createdAt", () => {
		expect(toStock(stock({ lowStock: true }))).toEqual({
			productId,
			onHand: 20,
			reserved: 5,
			available: 15,
			lowStockThreshold: 10,
			lowStock: true,
			version: 2,
			updatedAt: "2024-01-02T00:00:00.000Z"
		});
	});
});
