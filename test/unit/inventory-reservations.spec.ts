import {
	RELEASE,
	RETURN,
	SALE,
	answerAgain,
	onCancelNow,
	onCancelled,
	onConfirmed,
	onRelease,
	planReservations,
	settleItem,
	shortages,
	type StockLevels,
	type StockRecord
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

describe("planReservations", () => {
	const record = (productId: string, onHand: number, reserved: number): StockRecord => ({
		productId,
		onHand,
		reserved,
		lowStockThreshold: 2,
		lowStock: onHand - reserved <= 2,
		version: 7,
		createdAt: "2026-01-01T00:00:00.000Z",
		updatedAt: "2026-01-01T00:00:00.000Z"
	});
	const at = "2026-02-01T00:00:00.000Z";

	it("reserves one after the other on the same records, refusing with nothing reserved the one that finds too little", () => {
		const records = new Map([
			["a", record("a", 10, 0)],
			["b", record("b", 5, 3)]
		]);
		const plan = planReservations(
			records,
			[
				{ id: "r1", items: [{ productId: "a", quantity: 4 }, { productId: "b", quantity: 1 }] },
				{ id: "r2", items: [{ productId: "a", quantity: 4 }, { productId: "b", quantity: 2 }] },
				{ id: "r3", items: [{ productId: "a", quantity: 6 }] }
			],
			at
		);
		expect(plan.refusals).toEqual([null, [{ productId: "b", requested: 2, available: 1 }], null]);
		expect(plan.steps.map(s => [s.change.reference, s.after.productId, s.change.delta, s.after.reserved, s.after.version])).toEqual([
			["r1", "a", 4, 4, 8],
			["r1", "b", 1, 4, 8],
			["r3", "a", 6, 10, 9]
		]);
		expect(plan.finals.get("a")).toMatchObject({ onHand: 10, reserved: 10, lowStock: true, version: 9, updatedAt: at });
		expect(plan.finals.get("b")).toMatchObject({ reserved: 4, version: 8 });
		expect(records.get("a")).toMatchObject({ reserved: 0, version: 7 });
	});

	it("refuses a product without a record, and counts a product named twice once for its total", () => {
		const plan = planReservations(
			new Map([["a", record("a", 5, 0)]]),
			[
				{ id: "r1", items: [{ productId: "a", quantity: 3 }, { productId: "a", quantity: 3 }] },
				{ id: "r2", items: [{ productId: "z", quantity: 1 }] }
			],
			at
		);
		expect(plan.refusals).toEqual([[{ productId: "a", requested: 6, available: 5 }], [{ productId: "z", requested: 1, available: 0 }]]);
		expect(plan.steps).toEqual([]);
		expect(plan.finals.size).toBe(0);
	});
});
