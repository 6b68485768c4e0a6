/**
 * `npm run bench:scale`: what reads cost as the data grows. Into a fresh PostgreSQL database
 * it bulk-loads products with their stock records, one product's ledger and the audit trail to 1,000, 100,000 and
 * 1,000,000 rows each (bench/scale-seed.ts), and at each size measures the uncached p95 of
 * the list actions, called on a node that runs products, inventory and audit (no gateway,
 * no cache: `$cache: false`, and every query has parameters of its own). Queries run one at
 * a time, so a figure is the cost of one query, not of a queue.
 *
 * Target (issue 15): each p95 under 20 ms at 1,000,000 rows. Prints the growth table and
 * writes bench/results/scale.{md,json}. BENCH_SCALE_SIZES (e.g. "1000,100000") and
 * BENCH_SCALE_QUERIES shorten a trial run. The database is dropped at the end, on failure and on Ctrl-C too.
 */
import { createHash, randomBytes, randomInt } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "pg";
import type { ServiceBroker } from "moleculer";
import { loadConfig } from "../config/env";
import { createNode } from "../server";
import { cursorAfter, type KeyOrder } from "../lib/keyset";
import type { DbServiceThis } from "../mixins/db.mixin";
import { summariseLatency, type LatencySummary } from "./load";
import { CATEGORIES, LEDGER_PRODUCT, SEED_BASE_MS, TAGS, growAudit, growLedger, growProducts, growStocks, settle, tagOf } from "./scale-seed";

const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const SIZES = (process.env.BENCH_SCALE_SIZES ?? "1000,100000,1000000").split(",").map(Number);
const QUERIES = Number(process.env.BENCH_SCALE_QUERIES ?? 200);
const TARGET_MS = 20;
const PAGE_SIZE = 20;

/** The default product order (-createdAt, then id), the stock list's, the ledger's and the SQL audit store's, as their cursors carry them. */
const PRODUCT_ORDER: KeyOrder = [
	{ attribute: "createdAt", column: "created_at", direction: "DESC", kind: "timestamp" },
	{ attribute: "id", column: "id", direction: "ASC", kind: "uuid" }
];
const STOCK_ORDER: KeyOrder = [
	{ attribute: "updatedAt", column: "updated_at", direction: "DESC", kind: "timestamp" },
	{ attribute: "productId", column: "product_id", direction: "ASC", kind: "uuid" }
];
const MOVEMENT_ORDER: KeyOrder = [{ attribute: "id", column: "id", direction: "DESC", kind: "integer" }];
const AUDIT_ORDER: KeyOrder = [
	{ attribute: "occurredAt", column: "occurred_at", direction: "DESC", kind: "timestamp" },
	{ attribute: "id", column: "id", direction: "DESC", kind: "text" }
];

interface Query {
	action: string;
	params: Record<string, unknown>;
}

interface Kind {
	id: string;
	title: string;
	/** A query of its own for the i-th call at `size` rows. */
	next(size: number): Promise<Query>;
}

const say = (line: string) => process.stdout.write(`${line}\n`);
const md5 = (text: string) => createHash("md5").update(text).digest("hex");
const row = (size: number) => 1 + randomInt(size);

/** The time of seeded row i (bench/scale-seed.ts): a cursor at it starts a page anywhere in the table. */
const timeOf = (i: number) => new Date(SEED_BASE_MS + i).toISOString();
/** Sorts before every id: with a time, the position just before that time's rows. */
const LOWEST_ID = "00000000-0000-0000-0000-000000000000";

const KINDS: Kind[] = [
	{
		id: "search-rare",
		title: "search `q`: a term of one product's name",
		next: async size => {
			const at = randomInt(3);
			return { action: "products.list", params: { q: md5(String(row(size))).slice(at, at + 6) } };
		}
	},
	{
		id: "search-tag",
		title: "search `q`: a tag of 0.1 % of products",
		next: async () => ({ action: "products.list", params: { q: tagOf(randomInt(TAGS)) } })
	},
	{
		id: "search-broad",
		title: "search `q`: a term of every product (\"item\"), page n",
		next: async () => ({ action: "products.list", params: { q: "item", page: 1 + randomInt(10) } })
	},
	{
		id: "filter",
		title: "filter: category, active, sorted by price",
		next: async () => ({ action: "products.list", params: { category: `cat-${randomInt(CATEGORIES)}`, active: true, sort: "price", page: 1 + randomInt(3) } })
	},
	{
		id: "page-number",
		title: "product list: page 26 to 50 by number (offset 500 to 980)",
		next: async () => ({ action: "products.list", params: { page: 26 + randomInt(25), pageSize: PAGE_SIZE } })
	},
	{
		id: "page-cursor",
		title: "product list: a page by cursor, anywhere in the list",
		next: async size => ({
			action: "products.list",
			params: { pageSize: PAGE_SIZE, cursor: cursorAfter(PRODUCT_ORDER, { createdAt: timeOf(row(size)), id: LOWEST_ID }) }
		})
	},
	{
		id: "stock-low",
		title: "stock list: low stock (1 in 20), first pages, with the total",
		next: async () => ({ action: "inventory.list", params: { lowStock: true, page: 1 + randomInt(5), pageSize: PAGE_SIZE } })
	},
	{
		id: "stock-cursor",
		title: "stock list: a page by cursor, anywhere in it",
		next: async size => ({
			action: "inventory.list",
			params: { pageSize: PAGE_SIZE, cursor: cursorAfter(STOCK_ORDER, { updatedAt: timeOf(row(size)), productId: LOWEST_ID }) }
		})
	},
	{
		id: "ledger-first",
		title: "ledger: first page, with its total",
		next: async () => ({ action: "inventory.movements", params: { productId: LEDGER_PRODUCT, page: 1 + randomInt(5), pageSize: PAGE_SIZE } })
	},
	{
		id: "ledger-cursor",
		title: "ledger: a page by cursor, anywhere in it",
		// The ledger's ids are 1 to size: it is the only product with movements.
		next: async size => ({
			action: "inventory.movements",
			params: { productId: LEDGER_PRODUCT, pageSize: PAGE_SIZE, cursor: cursorAfter(MOVEMENT_ORDER, { id: row(size) }) }
		})
	},
	{
		id: "audit-type",
		title: "audit: by type, first pages, with the total",
		next: async () => ({ action: "audit.search", params: { type: "product.updated", page: 1 + randomInt(5), pageSize: PAGE_SIZE } })
	},
	{
		id: "audit-cursor",
		title: "audit: a page by cursor, anywhere in the trail",
		// Newest first with ids descending: "ffff..." sorts after every id, so the page starts at that time's entries.
		next: async size => ({
			action: "audit.search",
			params: { pageSize: PAGE_SIZE, cursor: cursorAfter(AUDIT_ORDER, { occurredAt: timeOf(row(size)), id: "ffffffff-ffff-ffff-ffff-ffffffffffff" }) }
		})
	}
];

interface Measured extends LatencySummary {
	kind: string;
	size: number;
	queries: number;
	/** Queries that failed (any failure counts against the target). */
	errors: number;
}

async function measure(broker: ServiceBroker, kind: Kind, size: number): Promise<Measured> {
	const samples: number[] = [];
	let errors = 0;
	for (let i = 0; i < Math.ceil(QUERIES / 10); i++) {
		const { action, params } = await kind.next(size);
		await broker.call(action, params, { meta: { $cache: false } }).catch(() => undefined); // warming up
	}
	for (let i = 0; i < QUERIES; i++) {
		const { action, params } = await kind.next(size);
		const started = performance.now();
		try {
			await broker.call(action, params, { meta: { $cache: false } });
		} catch (err) {
			errors++;
			if (errors === 1) console.error(`  ${kind.id}: ${(err as Error).message}`);
		}
		samples.push(performance.now() - started);
	}
	return { kind: kind.id, size, queries: QUERIES, errors, ...summariseLatency(samples) };
}

interface PlanNode {
	"Node Type": string;
	"Index Name"?: string;
	"Relation Name"?: string;
	Plans?: PlanNode[];
}

/** A plan in one line: its nodes, outermost first, with the index or table each reads. */
function planLine(node: PlanNode): string {
	const on = node["Index Name"] ?? node["Relation Name"];
	const here = on ? `${node["Node Type"]} (${on})` : node["Node Type"];
	const below = (node.Plans ?? []).map(planLine);
	return below.length === 0 ? here : `${here} < ${below.length === 1 ? below[0] : `[${below.join(", ")}]`}`;
}

/** The plans PostgreSQL chooses for the statements one query of `kind` runs (caught by Sequelize's logging hook). */
async function plansOf(broker: ServiceBroker, kind: Kind, size: number): Promise<string[]> {
	const { action, params } = await kind.next(size);
	const db = (broker.getLocalService(action.split(".")[0]) as unknown as DbServiceThis).db;
	const options = (db.sequelize as unknown as { options: { logging: unknown } }).options;
	const statements: string[] = [];
	options.logging = (sql: string) => void statements.push(sql.replace(/^Executing \([^)]*\): \/\* rows \*\/ /, ""));
	try {
		await broker.call(action, params, { meta: { $cache: false } });
	} finally {
		options.logging = false;
	}
	const plans: string[] = [];
	for (const sql of statements.filter(statement => /^SELECT/.test(statement))) {
		const [row] = await db.rows<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${sql}`);
		plans.push(planLine(row["QUERY PLAN"][0].Plan));
	}
	return plans;
}

function render(results: Measured[], plans: Record<string, string[]>, seeding: Record<number, number>, startedAt: Date, seconds: number): string {
	const largest = Math.max(...SIZES);
	const lines = [
		`# bench:scale, ${startedAt.toISOString()}`,
		"",
		`Uncached p95 in ms of one query at a time (${QUERIES} queries per cell, each with parameters of its own), by rows in the`,
		`table (products, their stock records, the ledger of one product, the audit trail). Target: p95 < ${TARGET_MS} ms at ${largest.toLocaleString("en")} rows, no errors.`,
		`Machine: ${cpus().length} cores, load average ${loadavg().map(l => l.toFixed(2)).join(" ")} at the end (shared with other work). Took ${seconds.toFixed(0)} s.`,
		"",
		`| query | ${SIZES.map(s => `${s.toLocaleString("en")} rows`).join(" | ")} | at ${largest.toLocaleString("en")}: p50 / p99 | target |`,
		`|---|${SIZES.map(() => "---:").join("|")}|---:|---|`
	];
	for (const kind of KINDS) {
		const cells = SIZES.map(size => results.find(r => r.kind === kind.id && r.size === size));
		const last = cells[cells.length - 1];
		const pass = last !== undefined && last.p95 < TARGET_MS && last.errors === 0;
		lines.push(
			`| ${kind.title} | ${cells.map(c => (c ? `${c.p95}${c.errors ? ` (${c.errors} errors)` : ""}` : "-")).join(" | ")} | ${last ? `${last.p50} / ${last.p99}` : "-"} | ${pass ? "PASS" : "FAIL"} |`
		);
	}
	lines.push("", `Plans at ${largest.toLocaleString("en")} rows (the count, then the page, where both run):`, "");
	for (const kind of KINDS) lines.push(`- ${kind.id}: ${(plans[kind.id] ?? []).map(plan => `\`${plan}\``).join("; ")}`);
	lines.push("", `Seeding (bulk load, VACUUM ANALYZE and a checkpoint, every table): ${SIZES.map(s => `to ${s.toLocaleString("en")}: ${seeding[s].toFixed(1)} s`).join(", ")}.`);
	return lines.join("\n") + "\n";
}

async function main(): Promise<void> {
	const startedAt = new Date();
	const name = `pi_bench_scale_${randomBytes(6).toString("hex")}`;
	const admin = new Client({ connectionString: POSTGRES_URL });
	await admin.connect();
	await admin.query(`CREATE DATABASE ${name}`);
	const url = new URL(POSTGRES_URL);
	url.pathname = `/${name}`;
	let broker: ServiceBroker | undefined;
	const pg = new Client({ connectionString: url.toString() });
	const cleanUp = async () => {
		await broker?.stop().catch(() => undefined);
		await pg.end().catch(() => undefined);
		await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
		await admin.end();
	};
	process.once("SIGINT", () => void cleanUp().finally(() => process.exit(130)));
	try {
		broker = createNode(
			loadConfig({
				NODE_ENV: "production",
				LOG_LEVEL: "warn",
				SERVICES: "products,inventory,audit",
				DATABASE_URL: url.toString(),
				API_KEYS: `bench:${randomBytes(16).toString("hex")}`,
				METRICS_PORT: "0",
				PORT: "0"
			})
		);
		await broker.start();
		await pg.connect();
		const results: Measured[] = [];
		const seeding: Record<number, number> = {};
		const plans: Record<string, string[]> = {};
		let have = 0;
		for (const size of SIZES) {
			say(`Seeding to ${size.toLocaleString("en")} rows each:`);
			const seedStart = performance.now();
			await growProducts(pg, have, size);
			await growStocks(pg, have, size);
			await growLedger(pg, have, size);
			await growAudit(pg, have, size);
			await settle(pg);
			seeding[size] = (performance.now() - seedStart) / 1000;
			say(`  seeded in ${seeding[size].toFixed(1)} s`);
			have = size;
			for (const kind of KINDS) {
				const result = await measure(broker, kind, size);
				results.push(result);
				if (size === Math.max(...SIZES)) plans[kind.id] = await plansOf(broker, kind, size);
				say(`  ${kind.id.padEnd(14)} p50 ${result.p50} ms, p95 ${result.p95} ms, p99 ${result.p99} ms${result.errors ? `, ${result.errors} errors` : ""}`);
			}
		}
		const seconds = (Date.now() - startedAt.getTime()) / 1000;
		const markdown = render(results, plans, seeding, startedAt, seconds);
		const dir = join(__dirname, "results");
		mkdirSync(dir, { recursive: true });
		writeFileSync(join(dir, "scale.md"), markdown);
		writeFileSync(join(dir, "scale.json"), JSON.stringify({ startedAt, sizes: SIZES, queries: QUERIES, targetMs: TARGET_MS, seeding, results, plans }, null, 2));
		say(`\n${markdown}`);
	} finally {
		await cleanUp();
	}
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
