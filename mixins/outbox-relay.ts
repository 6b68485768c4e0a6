/**
 * The relay: reads a service's outbox in commit order and hands each event to each of
 * its destinations (the consumer groups of its topic and the cluster broadcast now,
 * Kafka later). Each destination is tracked on its own: an event is published once all
 * have taken it; a failure leaves the rest pending and retries with backoff, and later
 * events of the same aggregate wait behind it for that destination only, so order holds
 * per destination and a consumer that is down never holds up the others.
 */
import type { Database } from "./database";
import type { EventEnvelope } from "../services/shared/events";

/** Hands an event to one destination (a consumer group, the cluster broadcast, Kafka); throws when it did not take it. */
export type Publish = (event: EventEnvelope, destination: string) => Promise<void>;

export interface RelayOptions {
	db: Database;
	publish: Publish;
	/** False for failures that say nothing about the event (a consumer not running): those never park and do not back off. */
	countsTowardsParking(err: unknown): boolean;
	onPublishError(err: unknown, event: EventEnvelope, attempts: number, parked: boolean): void;
	onPassError(err: unknown): void;
	/** After each pass: how many events it published and, now and then, how many still wait. */
	onPassDone?(published: number, backlog: number | undefined): void;
	batchSize?: number;
	pollMs?: number;
	maxAttempts?: number;
	retentionMs?: number;
}

interface OutboxRow {
	seq: number | string;
	aggregate_id: string;
	envelope: string;
	/** JSON list of the destinations that have not taken the event yet. */
	pending: string;
	attempts: number;
	next_attempt_at: string | Date | null;
}

/** Backoff before attempt n+1: 0.5 s doubling to a minute, with jitter so nodes do not align. */
export function backoffMs(attempts: number, random = Math.random): number {
	const base = Math.min(60_000, 500 * 2 ** Math.max(0, attempts - 1));
	return Math.round(base * (0.75 + random() * 0.5));
}

export class OutboxRelay {
	private timer?: NodeJS.Timeout;
	private running?: Promise<void>;
	private again = false;
	private stopped = true;
	private lastCleanup = 0;
	private lastBacklogCount = 0;
	private readonly batchSize: number;
	private readonly maxAttempts: number;
	private readonly retentionMs: number;

	constructor(private readonly options: RelayOptions) {
		this.batchSize = options.batchSize ?? 200;
		this.maxAttempts = options.maxAttempts ?? 20;
		this.retentionMs = options.retentionMs ?? 24 * 3600_000;
	}

	start(): void {
		this.stopped = false;
		const poll = () => {
			this.timer = setTimeout(() => {
				this.kick();
				poll();
			}, this.options.pollMs ?? 1000);
			this.timer.unref();
		};
		poll();
		this.kick();
	}

	/** Asks for a pass soon; passes never overlap, a kick during one runs another after it. */
	kick(): void {
		if (this.stopped) return;
		if (this.running) {
			this.again = true;
			return;
		}
		this.running = this.loop().finally(() => {
			this.running = undefined;
		});
	}

	/** Stops polling, then publishes what is due until nothing is left or the deadline passes. */
	async stop(deadlineMs = 5000): Promise<void> {
		if (this.stopped) return;
		this.stopped = true;
		if (this.timer) clearTimeout(this.timer);
		await this.running;
		const deadline = Date.now() + deadlineMs;
		while (Date.now() < deadline) {
			const delivered = await this.pass().catch(err => {
				this.options.onPassError(err);
				return 0;
			});
			if (delivered === 0) break;
		}
	}

	private async loop(): Promise<void> {
		do {
			this.again = false;
			try {
				const delivered = await this.pass();
				if (delivered === this.batchSize) this.again = true;
			} catch (err) {
				this.options.onPassError(err);
			}
		} while (this.again && !this.stopped);
	}

	/** One pass over the oldest pending events; returns how many were published. */
	async pass(): Promise<number> {
		const { db } = this.options;
		if (db.dialect !== "postgres") return this.deliverBatch();
		// Relays of several nodes take turns per pass; the one that loses just tries again soon.
		let busy = false;
		const delivered = await db.transaction(async tx => {
			const [lock] = await db.rows<{ locked: boolean }>(
				"SELECT pg_try_advisory_xact_lock(hashtext(:key)) AS locked",
				{ key: `outbox:${db.location}` },
				tx
			);
			if (!lock.locked) {
				busy = true;
				return 0;
			}
			return this.deliverBatch();
		});
		if (busy && !this.stopped) setTimeout(() => this.kick(), 50).unref();
		return delivered;
	}

	private async deliverBatch(): Promise<number> {
		const { db } = this.options;
		const rows = await db.rows<OutboxRow>(
			`SELECT seq, aggregate_id, envelope, pending, attempts, next_attempt_at FROM outbox
			 WHERE published_at IS NULL AND parked_at IS NULL ORDER BY seq LIMIT :limit`,
			{ limit: this.batchSize }
		);
		const now = Date.now();
		// "destination aggregate" pairs that must not move on: an earlier event of that
		// aggregate still waits for that destination.
		const waiting = new Set<string>();
		const published: (number | string)[] = [];
		for (const row of rows) {
			const pending = JSON.parse(row.pending) as string[];
			const due = !row.next_attempt_at || new Date(row.next_attempt_at).getTime() <= now;
			const event = JSON.parse(row.envelope) as EventEnvelope;
			const remaining: string[] = [];
			let failure: unknown;
			for (const destination of pending) {
				const lane = `${destination} ${row.aggregate_id}`;
				if (!due || waiting.has(lane) || failure !== undefined) {
					remaining.push(destination);
					waiting.add(lane);
					continue;
				}
				try {
					await this.options.publish(event, destination);
				} catch (err) {
					failure = err;
					remaining.push(destination);
					waiting.add(lane);
				}
			}
			if (remaining.length === 0) published.push(row.seq);
			else if (failure !== undefined) await this.recordFailure(row, event, remaining, failure);
			else if (remaining.length < pending.length)
				await db.rows("UPDATE outbox SET pending = :pending WHERE seq = :seq RETURNING seq", { pending: JSON.stringify(remaining), seq: row.seq });
		}
		// Marked together: a crash before this line only means these are delivered again,
		// which consumers ignore by event id.
		if (published.length > 0)
			await db.rows("UPDATE outbox SET published_at = :at, pending = '[]', attempts = attempts + 1 WHERE seq IN (:published) RETURNING seq", {
				at: new Date().toISOString(),
				published
			});
		if (this.options.onPassDone) {
			// Counted at most once a second: passes run on every commit.
			let backlog: number | undefined;
			if (now - this.lastBacklogCount >= 1000) {
				this.lastBacklogCount = now;
				const [row] = await db.rows<{ backlog: number | string }>(
					"SELECT count(*) AS backlog FROM outbox WHERE published_at IS NULL AND parked_at IS NULL"
				);
				backlog = Number(row.backlog);
			}
			this.options.onPassDone(published.length, backlog);
		}
		if (now - this.lastCleanup > 60_000) {
			this.lastCleanup = now;
			await db.rows("DELETE FROM outbox WHERE published_at < :cutoff RETURNING seq", {
				cutoff: new Date(now - this.retentionMs).toISOString()
			});
		}
		return published.length;
	}

	private async recordFailure(row: OutboxRow, event: EventEnvelope, remaining: string[], err: unknown): Promise<void> {
		const attempts = row.attempts + 1;
		const counts = this.options.countsTowardsParking(err);
		const parked = counts && attempts >= this.maxAttempts;
		// A consumer that is not running is asked again at the next poll, so it gets its
		// backlog as soon as it is back; a consumer that fails backs off.
		const delay = counts ? backoffMs(attempts) : (this.options.pollMs ?? 1000) / 2;
		await this.options.db.rows(
			`UPDATE outbox SET pending = :pending, attempts = :attempts, next_attempt_at = :next, last_error = :error,
			 parked_at = :parked WHERE seq = :seq RETURNING seq`,
			{
				pending: JSON.stringify(remaining),
				attempts,
				next: new Date(Date.now() + delay).toISOString(),
				error: String((err as Error)?.message ?? err).slice(0, 2000),
				parked: parked ? new Date().toISOString() : null,
				seq: row.seq
			}
		);
		this.options.onPublishError(err, event, attempts, parked);
	}
}
