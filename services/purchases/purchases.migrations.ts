import type { Migration } from "../../lib/migrator";
import { createOutboxTable, createRememberedAnswersTable } from "../../lib/shared-migrations";

export const purchasesMigrations: Migration[] = [
	{
		version: 1,
		name: "create purchases",
		async up({ exec, types: t }) {
			// `reservation_state` is the purchase's own record of the two-step create: a row is
			// RESERVING from before inventory is asked until the reservation is confirmed, so a
			// crash in between leaves a row the sweeper can repair.
			await exec(`CREATE TABLE purchases (
				id ${t.uuid} PRIMARY KEY,
				status VARCHAR(20) NOT NULL,
				reservation_state VARCHAR(20) NOT NULL,
				items ${t.text} NOT NULL,
				total_cents BIGINT NOT NULL CHECK (total_cents >= 0),
				currency CHAR(3) NOT NULL,
				customer_id VARCHAR(100),
				idempotency_key VARCHAR(200) UNIQUE,
				request_hash CHAR(64) NOT NULL,
				expires_at ${t.timestamp} NOT NULL,
				cancel_reason VARCHAR(200),
				created_at ${t.timestamp} NOT NULL,
				updated_at ${t.timestamp} NOT NULL,
				confirmed_at ${t.timestamp},
				completed_at ${t.timestamp},
				cancelled_at ${t.timestamp}
			)`);
			await exec("CREATE INDEX purchases_pending ON purchases (expires_at) WHERE status = 'PENDING'");
			await exec("CREATE INDEX purchases_reserving ON purchases (created_at) WHERE reservation_state = 'RESERVING'");
			await exec("CREATE INDEX purchases_customer ON purchases (customer_id, created_at)");
			await exec("CREATE INDEX purchases_status ON purchases (status, created_at)");
		}
	},
	{ version: 2, name: "create outbox", up: createOutboxTable },
	{
		version: 3,
		name: "index abandoned purchases",
		async up({ exec }) {
			// Rows the sweeper gave up on (RESERVING too long) until their stock is released.
			await exec("CREATE INDEX purchases_abandoned ON purchases (created_at) WHERE reservation_state = 'ABANDONED'");
		}
	},
	{ version: 4, name: "create remembered answers", up: createRememberedAnswersTable }
];
