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
	{ version: 3, name: "create remembered answers", up: createRememberedAnswersTable },
	{
		version: 4,
		name: "index search and sorts",
		async up({ exec, dialect }) {
			// Every sort a list may ask for starts at an index, and a cursor's page at its key.
			for (const column of ["name", "sku", "price_cents", "updated_at"]) await exec(`CREATE INDEX products_${column}_order ON products (${column}, id)`);
			// A category's page in the default order, by price or by name, read in index order: its
			// cost stays that of a page however many products the category has (these lead with
			// category, so its own index of migration 1 is no longer needed).
			for (const column of ["created_at", "price_cents", "name"]) await exec(`CREATE INDEX products_category_${column} ON products (category, ${column}, id)`);
			await exec("DROP INDEX products_category");
			if (dialect !== "postgres") return;
			// pg_trgm is database-wide: it lives in public (one copy for every service's schema), and
			// nodes of other schemas migrating at once take turns creating it. It is a trusted
			// extension: the database's owner may create it, no superuser needed.
			await exec("SELECT pg_advisory_xact_lock(hashtext('extension:pg_trgm'))");
			await exec("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public");
			// `q` matches LIKE '%text%' on each lowered column; a trigram index serves that for texts of 3 characters or more.
			for (const column of ["name", "sku", "description"])
				await exec(`CREATE INDEX products_${column}_trgm ON products USING gin (lower(${column}) public.gin_trgm_ops)`);
		}
	}
];
