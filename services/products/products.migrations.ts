import type { Migration } from "../../lib/migrator";
import { createOutboxTable, createRememberedAnswersTable } from "../../lib/shared-migrations";

export const productsMigrations: Migration[] = [
	{
		version: 1,
		name: "create products",
		async up({ exec, types: t }) {
			await exec(`CREATE TABLE products (
				id ${t.uuid} PRIMARY KEY,
				sku VARCHAR(64) NOT NULL,
				name VARCHAR(200) NOT NULL,
				description ${t.text},
				category VARCHAR(100),
				price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
				currency CHAR(3) NOT NULL,
				active ${t.bool} NOT NULL,
				version INTEGER NOT NULL,
				created_at ${t.timestamp} NOT NULL,
				updated_at ${t.timestamp} NOT NULL
			)`);
			// Unique regardless of case: "ABC-1" and "abc-1" are the same article.
			await exec("CREATE UNIQUE INDEX products_sku ON products (lower(sku))");
			await exec("CREATE INDEX products_category ON products (category)");
			await exec("CREATE INDEX products_created_at ON products (created_at)");
		}
	},
	{ version: 2, name: "create outbox", up: createOutboxTable },
	{ version: 3, name: "create remembered answers", up: createRememberedAnswersTable }
];
