import type { Migration } from "../../lib/migrator";
import { createOutboxTable, createProcessedEventsTable, createRememberedAnswersTable, indexProcessedEventsByTime } from "../../lib/shared-migrations";

export const inventoryMigrations: Migration[] = [
	{
		version: 1,
		name: "create stocks and movements",
		async up({ exec, types: t }) {
			// The invariants hold in the database too, whatever the code does.
			await exec(`CREATE TABLE stocks (
				product_id ${t.uuid} PRIMARY KEY,
				on_hand INTEGER NOT NULL CHECK (on_hand >= 0),
				reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
				low_stock_threshold INTEGER NOT NULL CHECK (low_stock_threshold >= 0),
				low_stock ${t.bool} NOT NULL,
				version INTEGER NOT NULL,
				created_at ${t.timestamp} NOT NULL,
				updated_at ${t.timestamp} NOT NULL,
				CHECK (reserved <= on_hand)
			)`);
			await exec("CREATE INDEX stocks_low_stock ON stocks (low_stock, updated_at)");
			await exec(`CREATE TABLE stock_movements (
				id ${t.bigId},
				product_id ${t.uuid} NOT NULL,
				delta INTEGER NOT NULL,
				reason VARCHAR(20) NOT NULL,
				reference VARCHAR(100),
				on_hand_after INTEGER NOT NULL,
				reserved_after INTEGER NOT NULL,
				at ${t.timestamp} NOT NULL
			)`);
			await exec("CREATE INDEX stock_movements_product ON stock_movements (product_id, id)");
		}
	},
	{ version: 2, name: "create outbox", up: createOutboxTable },
	{ version: 3, name: "create processed events", up: createProcessedEventsTable },
	{
		version: 4,
		name: "create reservations",
		async up({ exec, types: t }) {
			// One row per purchase that reserved stock; its status makes reserve, sale,
			// release and return each happen at most once.
			await exec(`CREATE TABLE reservations (
				id ${t.uuid} PRIMARY KEY,
				status VARCHAR(20) NOT NULL,
				items ${t.text} NOT NULL,
				created_at ${t.timestamp} NOT NULL,
				updated_at ${t.timestamp} NOT NULL
			)`);
			await exec("CREATE INDEX reservations_held ON reservations (created_at) WHERE status = 'HELD'");
		}
	},
	{ version: 5, name: "index processed events by time", up: indexProcessedEventsByTime },
	{ version: 6, name: "create remembered answers", up: createRememberedAnswersTable },
	{
		version: 7,
		name: "index the stock list's order",
		async up({ exec }) {
			// The stock list, most recently changed first, read in index order (the low-stock filter has its own).
			await exec("CREATE INDEX stocks_updated ON stocks (updated_at, product_id)");
		}
	}
];
