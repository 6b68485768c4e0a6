import {
	RELEASE,
	RETURN,
	SALE,
	answerAgain,
	onCancelNow,
	onCancelled,
	onConfirmed,
	onRelease,
	settleItem,
	shortages,
	type StockLevels
} from "../../services/inventory/inventory.domain";

const reservationId = "0b6c7c4e-3f7a-4d36-9a55-6f1d2e8c9a10";
const levels = (onHand: number, reserved: number): StockLevels => ({ onHand, reserved, lowStockThreshold: 2 });

describe("reservation transitions", () => {
	it.each([
		["a release gives the reserved units back and leaves on-hand stock", RELEASE, "HELD", "RELEASED", levels(10, 4), -3, levels(10, 1)],
		["a sale takes the units out of on-hand stock and out of the reservation", SALE, "HELD", "CONSUMED", levels(10, 4), -3, levels(7, 1)],
		["a return puts sold units back on hand", RETURN, "CONSUMED", "RETURNED", levels(7, 1), 3, levels(10, 1)]
	] as const)("%s", (_title, transition, from, to, before, delta, after) => {
		expect(transition).toMatchObject({ from, to });
		expect(settleItem(transition, reservationId, before, 3)).toEqual({ delta, reason: transition.reason, reference: reservationId, levels: after });
	});
});

describe("onRelease", () => {
	it("releases a held reservation", () => {
		expect(onRelease("HELD")).toBe(RELEASE);
	});

	it.each(["RELEASED", "CONSUMED", "RETURNED"] as const)("leaves a %s reservation as it is", status => {
		expect(onRelease(status)).toBeNull();
	});
});

describe("onConfirmed", () => {
	it("sells a held reservation", () => {
		expect(onConfirmed(reservationId, "HELD")).toBe(SALE);
	});

	it.each(["CONSUMED", "RETURNED"] as const)("does nothing for a reservation sold already (%s)", status => {
		expect(onConfirmed(reservationId, status)).toBeNull();
	});

	it.each(["RELEASED", undefined] as const)("refuses a reservation that is %s", status => {
		expect(() => onConfirmed(reservationId, status)).toThrow(
			`purchase ${reservationId} was confirmed but its reservation is ${status ?? "missing"}`
		);
	});
});

describe("onCancelled", () => {
	it("releases a held reservation", () => {
		expect(onCancelled("HELD")).toBe(RELEASE);
	});

	it("returns what a consumed reservation sold", () => {
		expect(onCancelled("CONSUMED")).toBe(RETURN);
	});

	it.each(["RELEASED", "RETURNED", undefined] as const)("changes nothing for a reservation that is %s", status => {
		expect(onCancelled(status)).toBeNull();
	});
});

describe("onCancelNow", () => {
	it("releases what a pending purchase holds", () => {
		expect(onCancelNow("HELD", false)).toEqual([RELEASE]);
	});

	it("sells, then returns, what a confirmed purchase still holds", () => {
		expect(onCancelNow("HELD", true)).toEqual([SALE, RETURN]);
	});

	it.each([true, false])("returns what a purchase sold (confirmed: %s)", confirmed => {
		expect(onCancelNow("CONSUMED", confirmed)).toEqual([RETURN]);
	});

	it.each(["RELEASED", "RETURNED", undefined] as const)("changes nothing for a reservation that is %s", status => {
		expect(onCancelNow(status, true)).toEqual([]);
	});
});

describe("answerAgain", () => {
	it("gives the same answer for a reservation still held", () => {
		expect(answerAgain(reservationId, "HELD")).toEqual({ reservationId, status: "HELD" });
	});

	it.each(["RELEASED", "CONSUMED", "RETURNED", "unknown"] as const)("refuses a %s reservation with 409 RESERVATION_CLOSED", status => {
		expect(() => answerAgain(reservationId, status)).toThrow(expect.objectContaining({ code: 409, type: "RESERVATION_CLOSED" }));
	});
});

describe("shortages", () => {
	const a = "00000000-0000-4000-8000-00000000000a";
	const b = "00000000-0000-4000-8000-00000000000b";

	it("lists the items asking for more than is available, with both counts", () => {
		const availability = new Map([
			[a, 5],
			[b, 1]
		]);
		expect(
			shortages(
				[
					{ productId: a, quantity: 5 },
					{ productId: b, quantity: 2 }
				],
				availability
			)
		).toEqual([{ productId: b, requested: 2, available: 1 }]);
	});

	it("counts a product without a stock record as having nothing available", () => {
		expect(shortages([{ productId: a, quantity: 1 }], new Map())).toEqual([{ productId: a, requested: 1, available: 0 }]);
	});
});
