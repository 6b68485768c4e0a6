/**
 * Remembered answers of keyed writes (`keyedWrite`, lib/resilience.ts) whose effect has no
 * row of its own to carry the key (purchases.create keeps its key on the purchase): the
 * first call with a key stores what its transaction made, in that same transaction, and a
 * call sent again with the key (by the client, or by the gateway's failover) is given that
 * again without a second effect. One `remembered_answers` table per service database.
 */
import { createHash } from "node:crypto";
import type { Context } from "moleculer";
import type { Transaction } from "sequelize";
import { IdempotencyKeyReusedError, IdempotentRequestInProgressError } from "../contracts/errors";
import type { Database } from "./database";
import { scopedKeyOf, storedKey, type IdempotencyMeta } from "./idempotency";

/**
 * How long the answer to a client's key is remembered: clients retry within minutes; a key
 * sent again after this is a new request.
 */
export const ANSWER_RETENTION_MS = 24 * 3600_000;
/**
 * How long the answer to a key of the gateway's own is remembered: only the gateway sends
 * it again, within the seconds its request lasts; every write has one, so it goes soon.
 */
export const DERIVED_ANSWER_RETENTION_MS = 10 * 60_000;

/** A keyed call as it is remembered: its scoped key (`storedKey`), what it asked, for how long. */
export interface KeyedCall {
	key: string;
	/** The action and its validated params, hashed: the same key for another request is a 422. */
	fingerprint: string;
	retentionMs: number;
}

/** JSON with every object's keys in order, so equal params give equal text. */
function canonicalJson(value: unknown): string {
	if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
	if (value && typeof value === "object")
		return `{${Object.entries(value)
			.filter(([, item]) => item !== undefined)
			.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
			.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`)
			.join(",")}}`;
	return JSON.stringify(value);
}

/** Identifies a call for its key: the action's name and its params (path and body alike). */
export function callFingerprint(action: string, params: unknown): string {
	return createHash("sha256").update(canonicalJson({ action, params })).digest("hex");
}

/** The call's key and fingerprint; null when it has no key (a call from inside the cluster). A malformed client key is a 422. */
export function keyedCallOf(ctx: Context<unknown, IdempotencyMeta>): KeyedCall | null {
	const key = scopedKeyOf(ctx.meta);
	return (
		key && {
			key: storedKey(key),
			fingerprint: callFingerprint(ctx.action?.name ?? "", ctx.params),
			retentionMs: key.derived ? DERIVED_ANSWER_RETENTION_MS : ANSWER_RETENTION_MS
		}
	);
}

/**
 * Runs `work` in one transaction of `db`, once per key: the key is claimed first, in that
 * transaction, and what `work` returns (JSON) is stored with the claim before the commit, so
 * there is never an effect without its answer or an answer without its effect. A key already
 * claimed gives the answer stored with it, without running `work`; claimed for another
 * request, it is a 422. A claim that another transaction has made and not yet committed is
 * waited for (PostgreSQL waits on the unique key; SQLite's transactions take turns), so
 * two calls with one key at the same moment have one effect and both get its answer.
 * Without a key `work` simply runs in a transaction.
 */
export function onceForKey<T>(db: Database, call: KeyedCall | null, work: (tx: Transaction) => Promise<T>): Promise<T> {
	return db.transaction(async tx => {
		if (!call) return work(tx);
		const earlier = await claim(db, tx, call);
		if (earlier) return earlier.answer as T;
		const answer = await work(tx);
		await db.rows("UPDATE remembered_answers SET answer = :answer WHERE scoped_key = :key RETURNING scoped_key", { key: call.key, answer: JSON.stringify(answer) }, tx);
		return answer;
	});
}

/** Claims the call's key in `tx`: null when it is this call's, else the answer its first call stored. */
async function claim(db: Database, tx: Transaction, call: KeyedCall): Promise<{ answer: unknown } | null> {
	const now = Date.now();
	const claimed = await db.rows(
		`INSERT INTO remembered_answers (scoped_key, fingerprint, created_at, expires_at) VALUES (:key, :fingerprint, :at, :until)
		 ON CONFLICT DO NOTHING RETURNING scoped_key`,
		{ key: call.key, fingerprint: call.fingerprint, at: new Date(now).toISOString(), until: new Date(now + call.retentionMs).toISOString() },
		tx
	);
	if (claimed.length > 0) return null;
	// A statement of its own, so on PostgreSQL it sees the claim the insert waited for, committed.
	const [row] = await db.rows<{ fingerprint: string; answer: string | null }>(
		"SELECT fingerprint, answer FROM remembered_answers WHERE scoped_key = :key",
		{ key: call.key },
		tx
	);
	if (!row) throw new IdempotentRequestInProgressError();
	if (row.fingerprint !== call.fingerprint) throw new IdempotencyKeyReusedError();
	if (row.answer === null) throw new IdempotentRequestInProgressError();
	return { answer: JSON.parse(row.answer) };
}

const PRUNE_BATCH = 5000;

/** Forgets the answers whose retention ended before `now`, in batches; safe on several nodes at once. */
export async function pruneRememberedAnswers(db: Database, now: Date): Promise<number> {
	let pruned = 0;
	for (;;) {
		const rows = await db.rows(
			`DELETE FROM remembered_answers WHERE scoped_key IN
			 (SELECT scoped_key FROM remembered_answers WHERE expires_at < :now LIMIT ${PRUNE_BATCH}) RETURNING scoped_key`,
			{ now: now.toISOString() }
		);
		pruned += rows.length;
		if (rows.length < PRUNE_BATCH) return pruned;
	}
}
