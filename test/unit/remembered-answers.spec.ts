import type { Context } from "moleculer";
import { ANSWER_RETENTION_MS, DERIVED_ANSWER_RETENTION_MS, callFingerprint, keyedCallOf } from "../../lib/remembered-answers";
import type { IdempotencyMeta } from "../../lib/idempotency";

const ID = "7a4c0d36-5d0e-4bb4-8d0b-0d3f0f5b8c11";

const contextOf = (action: string, params: object, meta: IdempotencyMeta) => ({ action: { name: action }, params, meta }) as unknown as Context<unknown, IdempotencyMeta>;

describe("callFingerprint", () => {
	it("is the same for the same params in another order, and ignores params left out", () => {
		const one = callFingerprint("inventory.adjust", { productId: ID, delta: 5, reason: "RESTOCK", reference: undefined });
		expect(callFingerprint("inventory.adjust", { reason: "RESTOCK", delta: 5, productId: ID })).toBe(one);
	});

	it("differs for another action, another id or another body", () => {
		const base = callFingerprint("purchases.confirm", { id: ID });
		expect(callFingerprint("purchases.complete", { id: ID })).not.toBe(base);
		expect(callFingerprint("purchases.confirm", { id: ID.replace("7", "8") })).not.toBe(base);
		expect(callFingerprint("purchases.cancel", { id: ID })).not.toBe(callFingerprint("purchases.cancel", { id: ID, reason: "late" }));
		// Text that looks alike as JSON stays apart.
		expect(callFingerprint("a", { x: "1" })).not.toBe(callFingerprint("a", { x: 1 }));
	});
});

describe("keyedCallOf", () => {
	it("scopes a client's key to its caller, apart from the gateway's derived key", () => {
		const params = { id: ID };
		const client = keyedCallOf(contextOf("purchases.confirm", params, { idempotencyKey: "k-1", user: { name: "shop" } }));
		const derived = keyedCallOf(contextOf("purchases.confirm", params, { derivedIdempotencyKey: "k-1", user: { name: "shop" } }));
		expect(client).toEqual({ key: "shop:k-1", fingerprint: callFingerprint("purchases.confirm", params), retentionMs: ANSWER_RETENTION_MS });
		expect(derived).toMatchObject({ key: "~shop:k-1", retentionMs: DERIVED_ANSWER_RETENTION_MS });
	});

	it("is null without a key and a 422 for a malformed one", () => {
		expect(keyedCallOf(contextOf("purchases.confirm", { id: ID }, {}))).toBeNull();
		expect(() => keyedCallOf(contextOf("purchases.confirm", { id: ID }, { idempotencyKey: "with spaces" }))).toThrow(
			expect.objectContaining({ code: 422, data: [expect.objectContaining({ field: "Idempotency-Key" })] })
		);
	});
});
