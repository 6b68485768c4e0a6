/** Tables every service with an outbox, event handlers or keyed writes has, as migration steps. */
import type { MigrationContext } from "./migrator";

/** The transactional outbox: events written with the change that caused them. */
export async function createOutboxTable({ exec, types: t }: MigrationContext): Promise<void> {
	await exec(`CREATE TABLE outbox (
		seq ${t.bigId},
		id ${t.uuid} NOT NULL UNIQUE,
		topic VARCHAR(100) NOT NULL,
		type VARCHAR(100) NOT NULL,
		aggregate_id VARCHAR(100) NOT NULL,
		envelope ${t.text} NOT NULL,
		pending ${t.text} NOT NULL,
		created_at ${t.timestamp} NOT NULL,
		published_at ${t.timestamp},
		attempts INTEGER NOT NULL DEFAULT 0,
		next_attempt_at ${t.timestamp},
		last_error ${t.text},
		parked_at ${t.timestamp}
	)`);
	await exec("CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL AND parked_at IS NULL");
	await exec("CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL");
}

/** One row per (consumer, event) handled, written in the transaction of the effect. */
export async function createProcessedEventsTable({ exec, types: t }: MigrationContext): Promise<void> {
	await exec(`CREATE TABLE processed_events (
		consumer VARCHAR(100) NOT NULL,
		event_id ${t.uuid} NOT NULL,
		event_type VARCHAR(100) NOT NULL,
		processed_at ${t.timestamp} NOT NULL,
		PRIMARY KEY (consumer, event_id)
	)`);
}

/** Old processed-event rows are pruned by their time (mixins/event-consumer.mixin.ts). */
export async function indexProcessedEventsByTime({ exec }: MigrationContext): Promise<void> {
	await exec("CREATE INDEX processed_events_at ON processed_events (processed_at)");
}

/**
 * The answers of keyed writes (lib/remembered-answers.ts), one per idempotency key: a row
 * is claimed (answer NULL) and answered in the transaction of the write's effect.
 */
export async function createRememberedAnswersTable({ exec, types: t }: MigrationContext): Promise<void> {
	await exec(`CREATE TABLE remembered_answers (
		scoped_key ${t.text} PRIMARY KEY,
		fingerprint CHAR(64) NOT NULL,
		answer ${t.text},
		created_at ${t.timestamp} NOT NULL,
		expires_at ${t.timestamp} NOT NULL
	)`);
	await exec("CREATE INDEX remembered_answers_expiry ON remembered_answers (expires_at)");
}
