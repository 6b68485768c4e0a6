/**
 * The relay: reads a service's outbox in commit order and hands each event to a
 * publisher (in-cluster consumers now, Kafka later). An event is marked published only
 * after the publisher succeeded; a failure leaves it in place and retries it with
 * backoff, and later events of the same aggregate wait behind it so their order holds.
 */
import type { Database } from "./database";
import type { EventEnvelope } from "../services/shared/events";

export type Publish = (event: EventEnvelope) => Promise<void>;

export interface RelayOptions {
	db: Database;
	publish: Publish;
	/** False for failures that say nothing about the event (a consumer not running): those never park and do not back off. */
	countsTowardsParking(err: unknown): boolean;
	onPublishError(err: unknown, event: EventEnvelope, attempts: number, parked: boolean): void;
	onPassError(err: unknown): void;
	onBacklog?(pending: number): void;
	batchSize?: number;
	pollMs?: number;
	maxAttempts?: number;
	retentionMs?: number;
}

interface OutboxRow {
	seq: number | string;
	aggregate_id: string;
	envelope: string | EventEnvelope;
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
		const { db, publish } = this.options;
		const rows = await db.rows<OutboxRow>(
			`SELECT seq, aggregate_id, envelope, attempts, next_attempt_at FROM outbox
			 WHERE published_at IS NULL AND parked_at IS NULL ORDER BY seq LIMIT :limit`,
			{ limit: this.batchSize }
		);
		this.options.onBacklog?.(rows.length);
		const now = Date.now();
		const waiting = new Set<string>();
		let delivered = 0;
		for (const row of rows) {
			if (waiting.has(row.aggregate_id)) continue;
			if (row.next_attempt_at && new Date(row.next_attempt_at).getTime() > now) {
				waiting.add(row.aggregate_id);
				continue;
			}
			const event = (typeof row.envelope === "string" ? JSON.parse(row.envelope) : row.envelope) as EventEnvelope;
			try {
				await publish(event);
				await db.rows(
					"UPDATE outbox SET published_at = :at, attempts = attempts + 1 WHERE seq = :seq RETURNING seq",
					{ at: new Date().toISOString(), seq: row.seq }
				);
				delivered++;
			} catch (err) {
				waiting.add(row.aggregate_id);
				const attempts = row.attempts + 1;
				const counts = this.options.countsTowardsParking(err);
				const parked = counts && attempts >= this.maxAttempts;
				// A consumer that is not running is asked again at the next poll, so it gets its
				// backlog as soon as it is back; a consumer that fails backs off.
				const delay = counts ? backoffMs(attempts) : (this.options.pollMs ?? 1000) / 2;
				await db.rows(
					`UPDATE outbox SET attempts = :attempts, next_attempt_at = :next, last_error = :error,
					 parked_at = :parked WHERE seq = :seq RETURNING seq`,
					{
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
		if (now - this.lastCleanup > 60_000) {
			this.lastCleanup = now;
			await db.rows("DELETE FROM outbox WHERE published_at < :cutoff RETURNING seq", {
				cutoff: new Date(now - this.retentionMs).toISOString()
			});
		}
		return delivered;
	}
}
