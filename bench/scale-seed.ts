/**
 * Bulk loading for `npm run bench:scale`: products, one product's ledger and the audit trail
 * grown to a given size with INSERT ... SELECT generate_series, in chunks with progress lines,
 * straight into the services' own tables (their migrations made them, indexes included, so
 * the indexes are maintained as on a live system).
 *
 * Text is made to be searched: a product's name holds two 8-hex "words" of its own (a term
 * cut from one matches that product and about no other), its description a tag shared by
 * one product in 1,000 (a term matching 0.1 % of the catalog), and every name starts "Item"
 * (a term matching all of it).
 */
import type { Client } from "pg";

export const CATEGORIES = 1000;
export const TAGS = 1000;
const CHUNK = 100_000;

/** The product whose ledger grows with the stages. */
export const LEDGER_PRODUCT = "00000000-0000-4000-8000-00000000000a";

/** Epoch milliseconds of row 1; row i is i ms later, so keys are distinct and ordered. */
export const SEED_BASE_MS = Date.UTC(2026, 0, 1);

export function tagOf(n: number): string {
	// The same expression as the SQL below, for the bench to pick terms that exist.
	return `t${n.toString(16).padStart(4, "0")}x`;
}

async function inChunks(label: string, from: number, to: number, insert: (first: number, last: number) => Promise<unknown>): Promise<void> {
	const started = performance.now();
	for (let first = from; first <= to; first += CHUNK) {
		const last = Math.min(to, first + CHUNK - 1);
		await insert(first, last);
		const seconds = ((performance.now() - started) / 1000).toFixed(1);
		process.stdout.write(`  ${label}: ${last.toLocaleString("en")} rows (${seconds} s)\n`);
	}
}

/** Grows products from `have` to `want` rows. */
export function growProducts(pg: Client, have: number, want: number): Promise<void> {
	return inChunks("products", have + 1, want, (first, last) =>
		pg.query(
			`INSERT INTO products.products (id, sku, name, description, category, price_cents, currency, active, version, created_at, updated_at)
			 SELECT gen_random_uuid(), 'SKU-' || lpad(i::text, 8, '0'),
			        'Item ' || substr(md5(i::text), 1, 8) || ' ' || substr(md5(i::text), 9, 8),
			        'Tagged t' || lpad(to_hex(i % ${TAGS}), 4, '0') || 'x, batch ' || substr(md5(i::text), 17, 8),
			        'cat-' || (i % ${CATEGORIES}), 100 + (i::bigint * 7919) % 100000, 'EUR', i % 10 <> 0, 1,
			        to_timestamp((${SEED_BASE_MS} + i) / 1000.0), to_timestamp((${SEED_BASE_MS} + i) / 1000.0)
			 FROM generate_series($1::int, $2::int) AS i`,
			[first, last]
		)
	);
}

/** Grows the ledger of LEDGER_PRODUCT from `have` to `want` entries (one RESTOCK of one unit each) and its stock to match. */
export async function growLedger(pg: Client, have: number, want: number): Promise<void> {
	await inChunks("movements", have + 1, want, (first, last) =>
		pg.query(
			`INSERT INTO inventory.stock_movements (product_id, delta, reason, reference, on_hand_after, reserved_after, at)
			 SELECT $3::uuid, 1, 'RESTOCK', NULL, i, 0, to_timestamp((${SEED_BASE_MS} + i) / 1000.0)
			 FROM generate_series($1::int, $2::int) AS i`,
			[first, last, LEDGER_PRODUCT]
		)
	);
	await pg.query(
		`INSERT INTO inventory.stocks (product_id, on_hand, reserved, low_stock_threshold, low_stock, version, created_at, updated_at)
		 VALUES ($1, $2, 0, 5, false, 1, now(), now())
		 ON CONFLICT (product_id) DO UPDATE SET on_hand = EXCLUDED.on_hand, version = stocks.version + 1, updated_at = now()`,
		[LEDGER_PRODUCT, want]
	);
}

/** Opens a stock record for each product from `have` to `want` (by sku): one in 20 low. */
export function growStocks(pg: Client, have: number, want: number): Promise<void> {
	return inChunks("stock records", have + 1, want, (first, last) =>
		pg.query(
			`INSERT INTO inventory.stocks (product_id, on_hand, reserved, low_stock_threshold, low_stock, version, created_at, updated_at)
			 SELECT p.id, CASE WHEN i % 20 = 0 THEN 2 ELSE 50 END, 0, 5, i % 20 = 0, 1, p.created_at, p.updated_at
			 FROM generate_series($1::int, $2::int) AS i JOIN products.products p ON lower(p.sku) = lower('SKU-' || lpad(i::text, 8, '0'))`,
			[first, last]
		)
	);
}

/** Grows the audit trail from `have` to `want` entries, of four event types. */
export function growAudit(pg: Client, have: number, want: number): Promise<void> {
	return inChunks("audit entries", have + 1, want, (first, last) =>
		pg.query(
			`INSERT INTO audit.audit_entries (id, kind, type, source, aggregate_id, correlation_id, actor, occurred_at, payload, recorded_at)
			 SELECT gen_random_uuid()::text, 'event',
			        (ARRAY['product.created', 'product.updated', 'inventory.stock-updated', 'purchase.created'])[1 + i % 4],
			        'bench', md5(i::text), md5(i::text), 'bench', to_timestamp((${SEED_BASE_MS} + i) / 1000.0),
			        '{"n": ' || i || '}', now()
			 FROM generate_series($1::int, $2::int) AS i`,
			[first, last]
		)
	);
}

/** After a load: the planner's statistics and the visibility map, as autovacuum would leave them. */
export async function settle(pg: Client): Promise<void> {
	for (const table of ["products.products", "inventory.stocks", "inventory.stock_movements", "audit.audit_entries"]) await pg.query(`VACUUM ANALYZE ${table}`);
	// The load's dirty pages written now, not by a checkpoint in the middle of the measurements
	// (a role that may not checkpoint, neither superuser nor pg_checkpoint, leaves it to the server).
	await pg.query("CHECKPOINT").catch(() => undefined);
}
