import type { Migration } from "../../lib/migrator";
import { createProcessedEventsTable } from "../../lib/shared-migrations";

export const auditMigrations: Migration[] = [
	{
		version: 1,
		name: "create audit entries",
		async up({ exec, types: t }) {
			// The id is the event's (or the request record's) own id: storing one twice is a no-op.
			await exec(`CREATE TABLE audit_entries (
				id VARCHAR(64) PRIMARY KEY,
				kind VARCHAR(10) NOT NULL,
				type VARCHAR(100) NOT NULL,
				source VARCHAR(100) NOT NULL,
				aggregate_id VARCHAR(100),
				correlation_id VARCHAR(100) NOT NULL,
				actor VARCHAR(100),
				occurred_at ${t.timestamp} NOT NULL,
				payload ${t.text} NOT NULL,
				recorded_at ${t.timestamp} NOT NULL
			)`);
			await exec("CREATE INDEX audit_entries_occurred ON audit_entries (occurred_at, id)");
			await exec("CREATE INDEX audit_entries_type ON audit_entries (type, occurred_at)");
			await exec("CREATE INDEX audit_entries_aggregate ON audit_entries (aggregate_id, occurred_at)");
			await exec("CREATE INDEX audit_entries_correlation ON audit_entries (correlation_id)");
		}
	},
	{ version: 2, name: "create processed events", up: createProcessedEventsTable },
	{
		version: 3,
		name: "add the trace id to audit entries",
		async up({ exec }) {
			// Entries stored before tracing keep NULL.
			await exec("ALTER TABLE audit_entries ADD COLUMN trace_id VARCHAR(32)");
			await exec("CREATE INDEX audit_entries_trace ON audit_entries (trace_id)");
		}
	}
];
