/** Idempotency keys on purchases.create: the request's key and fingerprint, the lookup and the replay. */
import { createHash } from "node:crypto";
import type { Database } from "../../lib/database";
import { scopedKeyOf, type IdempotencyMeta, type ScopedKey } from "../../lib/idempotency";
import type { RequestedItem } from "./purchases.domain";
import { IdempotencyKeyReusedError, IdempotentRequestInProgressError } from "./purchases.errors";
import { findByIdempotencyKey, type StoredPurchase } from "./purchases.repository";

/** A creation request as idempotency sees it: its scoped key (if sent) and its body's fingerprint. */
export interface IdempotentRequest {
	key: ScopedKey | null;
	fingerprint: string;
}

/** Identifies a request body for Idempotency-Key: the same items (in any order) and customer. */
export function requestFingerprint(items: RequestedItem[], customerId: string | undefined): string {
	const canonical = JSON.stringify({
		items: [...items].sort((a, b) => a.productId.localeCompare(b.productId)).map(i => [i.productId, i.quantity]),
		customerId: customerId ?? null
	});
	return createHash("sha256").update(canonical).digest("hex");
}

/** The call's key scoped to its caller (lib/idempotency.ts; a malformed one is a 422) and its body's fingerprint. */
export function idempotentRequest(meta: IdempotencyMeta, items: RequestedItem[], customerId: string | undefined): IdempotentRequest {
	return { key: scopedKeyOf(meta), fingerprint: requestFingerprint(items, customerId) };
}

/**
 * The purchase an earlier request with the same key made, however far it got (a RESERVING
 * one is finished by whichever request gets there first); 422 for another body, 409 while
 * the sweeper is releasing one whose creation was given up.
 */
export function replay(earlier: StoredPurchase, request: IdempotentRequest): StoredPurchase {
	if (earlier.requestHash !== request.fingerprint) throw new IdempotencyKeyReusedError();
	if (earlier.reservationState === "ABANDONED") throw new IdempotentRequestInProgressError();
	return earlier;
}

/** The purchase of a request whose key was seen before, or null for a new one. */
export async function lookUp(db: Database, request: IdempotentRequest): Promise<StoredPurchase | null> {
	if (!request.key) return null;
	const earlier = await findByIdempotencyKey(db, request.key);
	return earlier && replay(earlier, request);
}

/**
 * The purchase of the request that owns the key this request's insert found taken (sent
 * twice at once, or before); 409 when that purchase is gone already (its creation was
 * refused or given up), so a client sending again gets a fresh attempt.
 */
export async function ownerOfKey(db: Database, request: IdempotentRequest): Promise<StoredPurchase> {
	const earlier = request.key && (await findByIdempotencyKey(db, request.key));
	if (!earlier) throw new IdempotentRequestInProgressError();
	return replay(earlier, request);
}
