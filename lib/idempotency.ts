/**
 * Idempotency keys of writes: the client's `Idempotency-Key`, or one the gateway gives a
 * request that has none, so that the gateway may send the request again (to another node)
 * and its effect still happens once. A key belongs to the caller that sent it.
 */
import { UnprocessableError } from "../contracts/errors";
import { IDEMPOTENCY_KEY } from "./params";

/** What the gateway puts in a call's meta for an action that reads idempotency keys. */
export interface IdempotencyMeta {
	/** The client's Idempotency-Key header, as sent. */
	idempotencyKey?: string;
	/** The gateway's own key for a request without one: unique to the HTTP request, the same on every attempt. */
	derivedIdempotencyKey?: string;
	user?: { name: string };
}

/** A key with the caller it belongs to (anonymous callers share "-"); `derived` when the gateway made it. */
export interface ScopedKey {
	caller: string;
	key: string;
	derived: boolean;
}

/** The call's key, scoped to its caller; null when it has none. A malformed client key is a 422. */
export function scopedKeyOf(meta: IdempotencyMeta): ScopedKey | null {
	const caller = meta.user?.name ?? "-";
	if (meta.idempotencyKey !== undefined) {
		if (!IDEMPOTENCY_KEY.test(meta.idempotencyKey))
			throw new UnprocessableError([{ field: "Idempotency-Key", message: "must be 1 to 200 printable ASCII characters" }]);
		return { caller, key: meta.idempotencyKey, derived: false };
	}
	if (meta.derivedIdempotencyKey !== undefined) return { caller, key: meta.derivedIdempotencyKey, derived: true };
	return null;
}

/**
 * A scoped key as one column: `caller:key`, with `~` in front of a derived one. Caller
 * names never hold `~` or `:` (config/env.ts), so no client key can pass for another.
 */
export const storedKey = (key: ScopedKey): string => `${key.derived ? "~" : ""}${key.caller}:${key.key}`;

/** The key a client sent, as answers show it, from its stored form; null for a derived key. */
export const clientKeyOf = (stored: string | null): string | null => (stored === null || stored.startsWith("~") ? null : stored.slice(stored.indexOf(":") + 1));
