import { isExpired, pendingPurchase, refuseRepeatedProducts, withStatus, type PurchaseRecord } from "../../services/purchases/purchases.domain";

const A = "0b6d6c3e-3f1a-4d2b-9a57-6f1f5b1e2c3d";
const B = "5f1e2c3d-0b6d-4d2b-9a57-6c3e3f1a6f1f";

const priced = {
	lines: [{ productId: A, sku: "MUG-1", name: "Mug", quantity: 2, unitPriceCents: 500, lineTotalCents: 1000 }],
	totalCents: 1000,
	currency: "EUR"
};

function record(overrides: Partial<PurchaseRecord> = {}): PurchaseRecord {
	return {
		...pendingPurchase("7a4c0d36-5d0e-4bb4-8d0b-0d3f0f5b8c11", priced, { customerId: null, idempotencyKey: null }, new Date("2024-01-01T00:00:00.000Z"), 900_000),
		...overrides
	};
}

describe("refuseRepeatedProducts", () => {
	it("accepts items of distinct products", () => {
		expect(() =>
			refuseRepeatedProducts([
				{ productId: A, quantity: 1 },
				{ productId: B, quantity: 1 }
			])
		).not.toThrow();
	});

	it("rejects a product that appears twice with 422 naming the second item", async () => {
		const items = [
			{ productId: A, quantity: 1 },
			{ productId: B, quantity: 1 },
			{ productId: A, quantity: 3 }
		];
		await expect(async () => refuseRepeatedProducts(items)).rejects.toMatchObject({
			code: 422,
			type: "VALIDATION_ERROR",
			data: [{ field: "items[2].productId" }]
		});
	});
});

describe("pendingPurchase", () => {
	it("is PENDING, priced, created at now and expiring ttl later", () => {
		expect(
			pendingPurchase("id-1", priced, { customerId: "c-1", idempotencyKey: "k-1" }, new Date("2024-01-01T00:00:00.000Z"), 900_000)
		).toEqual({
			id: "id-1",
			status: "PENDING",
			items: priced.lines,
			totalCents: 1000,
			currency: "EUR",
			customerId: "c-1",
			idempotencyKey: "k-1",
			expiresAt: "2024-01-01T00:15:00.000Z",
			cancelReason: null,
			createdAt: "2024-01-01T00:00:00.000Z",
			updatedAt: "2024-01-01T00:00:00.000Z",
			confirmedAt: null,
			completedAt: null,
			cancelledAt: null
		});
	});
});

describe("isExpired", () => {
	it("holds for a PENDING purchase at or past its expiry only", () => {
		expect(isExpired(record(), "2024-01-01T00:14:59.999Z")).toBe(false);
		expect(isExpired(record(), "2024-01-01T00:15:00.000Z")).toBe(true);
		expect(isExpired(record({ status: "CONFIRMED" }), "2024-01-02T00:00:00.000Z")).toBe(false);
	});
});

describe("withStatus", () => {
	const now = "2024-01-01T00:05:00.000Z";

	it("stamps confirmedAt and updatedAt on CONFIRMED and keeps the rest", () => {
		expect(withStatus(record(), { status: "CONFIRMED", reason: null }, now)).toEqual({ ...record(), status: "CONFIRMED", confirmedAt: now, updatedAt: now });
	});

	it("stamps cancelledAt and the reason on CANCELLED, keeping confirmedAt", () => {
		const confirmed = record({ status: "CONFIRMED", confirmedAt: "2024-01-01T00:01:00.000Z" });
		expect(withStatus(confirmed, { status: "CANCELLED", reason: "changed my mind" }, now)).toEqual({
			...confirmed,
			status: "CANCELLED",
			cancelledAt: now,
			cancelReason: "changed my mind",
			updatedAt: now
		});
	});

	it("keeps the extra fields of a stored row", () => {
		const stored = { ...record(), reservationState: "RESERVED" as const };
		expect(withStatus(stored, { status: "COMPLETED", reason: null }, now)).toMatchObject({ reservationState: "RESERVED", completedAt: now });
	});
});
