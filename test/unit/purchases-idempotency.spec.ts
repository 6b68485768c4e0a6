import { idempotentRequest, replay, requestFingerprint } from "../../services/purchases/purchases.idempotency";
import { pendingPurchase } from "../../services/purchases/purchases.domain";
import type { StoredPurchase } from "../../services/purchases/purchases.repository";

const A = "0b6d6c3e-3f1a-4d2b-9a57-6f1f5b1e2c3d";
const B = "5f1e2c3d-0b6d-4d2b-9a57-6c3e3f1a6f1f";

function stored(overrides: Partial<StoredPurchase> = {}): StoredPurchase {
	const priced = { lines: [], totalCents: 0, currency: "EUR" };
	return {
		...pendingPurchase("7a4c0d36-5d0e-4bb4-8d0b-0d3f0f5b8c11", priced, { customerId: null, idempotencyKey: "k-1" }, new Date(), 900_000),
		reservationState: "RESERVED",
		requestHash: requestFingerprint([{ productId: A, quantity: 1 }], undefined),
		...overrides
	};
}

describe("requestFingerprint", () => {
	it("is the same for the same items in another order", () => {
		const one = requestFingerprint(
			[
				{ productId: A, quantity: 1 },
				{ productId: B, quantity: 2 }
			],
			"c-1"
		);
		const other = requestFingerprint(
			[
				{ productId: B, quantity: 2 },
				{ productId: A, quantity: 1 }
			],
			"c-1"
		);
		expect(one).toBe(other);
	});

	it("differs for another quantity or another customer", () => {
		const base = requestFingerprint([{ productId: A, quantity: 1 }], "c-1");
		expect(requestFingerprint([{ productId: A, quantity: 2 }], "c-1")).not.toBe(base);
		expect(requestFingerprint([{ productId: A, quantity: 1 }], "c-2")).not.toBe(base);
		expect(requestFingerprint([{ productId: A, quantity: 1 }], undefined)).not.toBe(base);
	});
});

describe("idempotentRequest", () => {
	const items = [{ productId: A, quantity: 1 }];

	it("scopes the key to its caller, anonymous callers to \"-\"", () => {
		expect(idempotentRequest({ idempotencyKey: "k-1", user: { name: "alice" } }, items, undefined).key).toEqual({ caller: "alice", key: "k-1", derived: false });
		expect(idempotentRequest({ idempotencyKey: "k-1" }, items, undefined).key).toEqual({ caller: "-", key: "k-1", derived: false });
	});

	it("takes the gateway's key when the client sent none, and the client's over it", () => {
		expect(idempotentRequest({ derivedIdempotencyKey: "g-1", user: { name: "alice" } }, items, undefined).key).toEqual({ caller: "alice", key: "g-1", derived: true });
		expect(idempotentRequest({ idempotencyKey: "k-1", derivedIdempotencyKey: "g-1" }, items, undefined).key).toMatchObject({ key: "k-1", derived: false });
	});

	it("has no key when none was given, and the body's fingerprint either way", () => {
		expect(idempotentRequest({ user: { name: "alice" } }, items, "c-1")).toEqual({ key: null, fingerprint: requestFingerprint(items, "c-1") });
	});

	it("rejects a key with a space or over 200 characters with 422", async () => {
		for (const key of ["has space", "x".repeat(201), ""])
			await expect(async () => idempotentRequest({ idempotencyKey: key, user: { name: "alice" } }, items, undefined)).rejects.toMatchObject({
				code: 422,
				type: "VALIDATION_ERROR",
				data: [{ field: "Idempotency-Key" }]
			});
	});
});

describe("replay", () => {
	const request = idempotentRequest({ idempotencyKey: "k-1", user: { name: "alice" } }, [{ productId: A, quantity: 1 }], undefined);

	it("answers the earlier purchase for the same body, also one still being made (the request finishes it)", () => {
		for (const reservationState of ["RESERVED", "RESERVING"] as const) {
			const earlier = stored({ reservationState });
			expect(replay(earlier, request)).toBe(earlier);
		}
	});

	it("rejects another body under the same key with 422", async () => {
		await expect(async () => replay(stored({ requestHash: "other" }), request)).rejects.toMatchObject({
			code: 422,
			type: "VALIDATION_ERROR",
			data: [{ field: "Idempotency-Key", type: "idempotencyKey" }]
		});
	});

	it("rejects with 409 while the sweeper releases an earlier purchase that was given up", async () => {
		await expect(async () => replay(stored({ reservationState: "ABANDONED" }), request)).rejects.toMatchObject({ code: 409, type: "REQUEST_IN_PROGRESS" });
	});
});
