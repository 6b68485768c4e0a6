/** Idempotency-Key on purchases.create: the key's scope, the request's fingerprint, the lookup and the replay. */
import { createHash } from "node:crypto";
import { isUniqueViolation, type Database } from "../../lib/database";
import { IDEMPOTENCY_KEY } from "../../lib/params";
import { UnprocessableError } from "../../contracts/errors";
import type { RequestedItem } from "./purchases.domain";
import { IdempotencyKeyReusedError, IdempotentRequestInProgressError } from "./purchases.errors";
import { findByIdempotencyKey, type ScopedKey, type StoredPurchase } from "./purchases.repository";

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

/**
 * The request's key scoped to `caller`, so two clients never collide on one (anonymous callers
 * share "-"), and its body's fingerprint; a malformed key is a 422.
 */
export function idempotentRequest(key: string | undefined, caller: string | undefined, items: RequestedItem[], customerId: string | undefined): IdempotentRequest {
	if (key !== undefined && !IDEMPOTENCY_KEY.test(key))
		throw new UnprocessableError([{ field: "Idempotency-Key", message: "must be 1 to 200 printable ASCII characters" }]);
	return {
		key: key === undefined ? null : { caller: caller ?? "-", key },
		fingerprint: requestFingerprint(items, customerId)
	};
}

/** The purchase an earlier request with the same key made, if any; 422 for another body, 409 while it is still being made. */
export function replay(earlier: StoredPurchase, request: IdempotentRequest): StoredPurchase {
	if (earlier.requestHash !== request.fingerprint) throw new IdempotencyKeyReusedError();
	if (earlier.reservationState !== "RESERVED") throw new IdempotentRequestInProgressError();
	return earlier;
}

/** The replayed answer to a request whose key was seen before, or null for a new one. */
export async function lookUp(db: Database, request: IdempotentRequest): Promise<StoredPurchase | null> {
	if (!request.key) return null;
	const earlier = await findByIdempotencyKey(db, request.key);
	return earlier && replay(earlier, request);
}

/**
 * The answer when inserting the new purchase failed with `err`: the same key sent twice at
 * once makes a unique violation, and the other request owns the key. Rethrows anything else.
 */
export async function replayAfterInsertFailed(db: Database, request: IdempotentRequest, err: unknown): Promise<StoredPurchase> {
	if (!request.key || !isUniqueViolation(err)) throw err;
	const earlier = await findByIdempotencyKey(db, request.key);
	if (!earlier) throw err;
	return replay(earlier, request);
}
