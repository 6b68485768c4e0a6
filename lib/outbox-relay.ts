/**
 * The relay: reads a service's outbox in commit order and hands each event to each of its
 * pending destinations (the cluster broadcast, its consumer groups or Kafka topic), in lanes
 * of one destination and one aggregate. A failure holds up only its own lane, so order holds
 * per destination and a consumer that is down never holds up the others.
 */
import type { Transaction } from "sequelize";
import type { Database } from "./database";
import type { EventEnvelope } from "../contracts/events";
import { outsideLogContext } from "./log-context";

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
	/** Lanes a pass delivers at the same time. */
	concurrentLanes?: number;
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

/** An outbox event as a pass sees it: due or still backing off, and the destinations that have not taken it. */
export interface Delivery {
	event: EventEnvelope;
	aggregateId: string;
	pending: string[];
	due: boolean;
}

/** What a pass did with a delivery: the destinations that still have not taken it, and its first failure. */
export interface DeliveryResult {
	remaining: string[];
	failure?: unknown;
}

/**
 * Delivers a batch, oldest first, in lanes of one destination and one aggregate, at most
 * `concurrency` lanes at a time. Within a lane events go one at a time in batch order;
 * after one that fails or is not due yet, the rest of its lane waits for a later pass.
 */
export async function deliverInLanes(deliveries: Delivery[], publish: Publish, concurrency: number): Promise<DeliveryResult[]> {
	const lanes = new Map<string, { destination: string; items: number[] }>();
	const held = new Set<string>();
	deliveries.forEach(({ aggregateId, pending, due }, i) => {
		for (const destination of pending) {
			const key = `${destination} ${aggregateId}`;
			if (!due) held.add(key);
			if (held.has(key)) continue;
			const lane = lanes.get(key);
			if (lane) lane.items.push(i);
			else lanes.set(key, { destination, items: [i] });
		}
	});
	const taken = deliveries.map(() => new Set<string>());
	const failures: unknown[] = [];
	const queue = [...lanes.values()];
	const worker = async () => {
		for (let lane = queue.shift(); lane; lane = queue.shift()) {
			for (const i of lane.items) {
				try {
					await publish(deliveries[i].event, lane.destination);
					taken[i].add(lane.destination);
				} catch (err) {
					failures[i] ??= err;
					break;
				}
			}
		}
	};
	await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
	return deliveries.map(({ pending }, i) => ({ remaining: pending.filter(d => !taken[i].has(d)), failure: failures[i] }));
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
	private readonly concurrentLanes: number;
	private readonly maxAttempts: number;
	private readonly retentionMs: number;

	constructor(private readonly options: RelayOptions) {
		this.batchSize = options.batchSize ?? 200;
		this.concurrentLanes = options.concurrentLanes ?? 16;
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
		// A commit kicks the relay from inside its call; the pass carries other calls' events too.
		this.running = outsideLogContext(() => this.loop()).finally(() => {
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
		// Relays of several nodes take turns per pass: one waits for the lock while another's
		// pass runs, then reads what is left. (Trying the lock and trying again 50 ms later cost
		// a transaction per try: on a cluster under load most passes were such tries.) The
		// pass's reads and bookkeeping run in the lock's transaction: one commit per pass.
		return db.transaction(async tx => {
			await db.rows("SELECT pg_advisory_xact_lock(hashtext(:key))", { key: `outbox:${db.location}` }, tx);
			return this.deliverBatch(tx);
		});
	}

	private async deliverBatch(tx?: Transaction): Promise<number> {
		const { db } = this.options;
		const rows = await db.rows<OutboxRow>(
			`SELECT seq, aggregate_id, envelope, pending, attempts, next_attempt_at FROM outbox
			 WHERE published_at IS NULL AND parked_at IS NULL ORDER BY seq LIMIT :limit`,
			{ limit: this.batchSize },
			tx
		);
		const now = Date.now();
		const deliveries = rows.map(row => ({
			event: JSON.parse(row.envelope) as EventEnvelope,
			aggregateId: row.aggregate_id,
			pending: JSON.parse(row.pending) as string[],
			due: !row.next_attempt_at || new Date(row.next_attempt_at).getTime() <= now
		}));
		const results = await deliverInLanes(deliveries, this.options.publish, this.concurrentLanes);
		const published: (number | string)[] = [];
		for (const [i, row] of rows.entries()) {
			const { event, pending } = deliveries[i];
			const { remaining, failure } = results[i];
			if (remaining.length === 0) published.push(row.seq);
			else if (failure !== undefined) await this.recordFailure(row, event, remaining, failure, tx);
			else if (remaining.length < pending.length)
				await db.rows("UPDATE outbox SET pending = :pending WHERE seq = :seq RETURNING seq", { pending: JSON.stringify(remaining), seq: row.seq }, tx);
		}
		// Marked together: a crash before this line only means these are delivered again,
		// which consumers ignore by event id.
		if (published.length > 0)
			await db.rows("UPDATE outbox SET published_at = :at, pending = '[]', attempts = attempts + 1 WHERE seq IN (:published) RETURNING seq", {
				at: new Date().toISOString(),
				published
			}, tx);
		if (this.options.onPassDone) {
			// Counted at most once a second: passes run on every commit.
			let backlog: number | undefined;
			if (now - this.lastBacklogCount >= 1000) {
				this.lastBacklogCount = now;
				const [row] = await db.rows<{ backlog: number | string }>(
					"SELECT count(*) AS backlog FROM outbox WHERE published_at IS NULL AND parked_at IS NULL",
					{},
					tx
				);
				backlog = Number(row.backlog);
			}
			this.options.onPassDone(published.length, backlog);
		}
		if (now - this.lastCleanup > 60_000) {
			this.lastCleanup = now;
			await db.rows("DELETE FROM outbox WHERE published_at < :cutoff RETURNING seq", {
				cutoff: new Date(now - this.retentionMs).toISOString()
			}, tx);
		}
		return published.length;
	}

	private async recordFailure(row: OutboxRow, event: EventEnvelope, remaining: string[], err: unknown, tx?: Transaction): Promise<void> {
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
			},
			tx
		);
		this.options.onPublishError(err, event, attempts, parked);
	}
}
