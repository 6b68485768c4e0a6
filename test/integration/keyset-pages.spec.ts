/**
 * Lists by cursor and by page number on large lists: every list with cursors walked to its
 * end while rows are inserted gives each row once; a cursor not handed out is a 400; counts
 * past EXACT_COUNT_LIMIT are estimates and say so; and on PostgreSQL the query `q` runs is
 * served by the trigram indexes.
 */
import { randomUUID } from "node:crypto";
import { testDialects } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import { waitFor } from "../helpers/wait";
import type { Product } from "../../services/products/products.domain";
import type { Stock } from "../../services/inventory/inventory.domain";
import type { Page } from "../../lib/params";
import type { DbServiceThis } from "../../mixins/db.mixin";
import { EXACT_COUNT_LIMIT } from "../../lib/counts";
import { cursorAfter } from "../../lib/keyset";

describe.each(testDialects())("pages by cursor on %s", dialect => {
	const suite = useNode(dialect);
	const call = <T>(action: string, params: object = {}) => suite.node.broker.call(action, params) as Promise<T>;
	const dbOf = (service: string) => (suite.node.broker.getLocalService(service) as unknown as DbServiceThis).db;

	/** Follows nextCursor from the first page to the last, running `between` after each page; every item seen, in order. */
	async function walk<T>(action: string, params: object, between: () => Promise<unknown> = async () => undefined): Promise<T[]> {
		const seen: T[] = [];
		let page = await call<Page<T>>(action, { ...params, pageSize: 3 });
		for (;;) {
			seen.push(...page.items);
			if (page.nextCursor === null) return seen;
			// A cursor that leads back to a page already seen would walk for ever.
			if (seen.length > 200) throw new Error(`${action}: the walk did not end after ${seen.length} items`);
			await between();
			page = await call<Page<T>>(action, { ...params, pageSize: 3, cursor: page.nextCursor });
			expect(page).not.toHaveProperty("total");
		}
	}

	it.each(["-createdAt", "name", "-price,sku"])("walks every product sorted by %s once while products are added", async sort => {
		const category = `walk-${randomUUID()}`;
		const names = ["b", "a", "c", "a", "d", "e", "b", "f", "g", "h", "i"];
		const made: Product[] = [];
		for (const [i, name] of names.entries()) made.push(await call<Product>("products.create", { name, price: i % 3, category }));
		let added = 0;
		const seen = await walk<Product>("products.list", { category, sort }, () =>
			call("products.create", { name: `new ${added++}`, price: 1, category })
		);
		const ids = seen.map(p => p.id);
		expect(new Set(ids).size).toBe(ids.length);
		expect(ids).toEqual(expect.arrayContaining(made.map(p => p.id)));
		// The same order as one page holding them all, read after the inserts.
		const all = await call<Page<Product>>("products.list", { category, sort, pageSize: 100 });
		expect(ids).toEqual(all.items.map(p => p.id).filter(id => ids.includes(id)));
	});

	it("gives page-number pages a total, totalEstimated false on a small list, and a nextCursor into the rest", async () => {
		const category = `small-${randomUUID()}`;
		for (let i = 0; i < 5; i++) await call("products.create", { name: `s${i}`, price: 1, category });
		const first = await call<Page<Product>>("products.list", { category, pageSize: 2 });
		expect(first).toMatchObject({ page: 1, pageSize: 2, total: 5, totalEstimated: false, nextCursor: expect.any(String) });
		const byNumber = await call<Page<Product>>("products.list", { category, pageSize: 2, page: 2 });
		const byCursor = await call<Page<Product>>("products.list", { category, pageSize: 2, cursor: first.nextCursor });
		expect(byCursor.items).toEqual(byNumber.items);
		const last = await call<Page<Product>>("products.list", { category, pageSize: 2, page: 3 });
		expect(last.nextCursor).toBeNull();
	});

	it("walks a product's ledger newest first once while stock keeps changing", async () => {
		const product = await call<Product>("products.create", { name: "Ledgered", price: 1, stock: 10 });
		await waitFor(() => call<Stock>("inventory.get", { productId: product.id }).catch(() => undefined));
		for (let i = 0; i < 8; i++) await call("inventory.adjust", { productId: product.id, delta: 1, reason: "RESTOCK" });
		const before = await call<Page<{ id: number }>>("inventory.movements", { productId: product.id, pageSize: 100 });
		const seen = await walk<{ id: number }>("inventory.movements", { productId: product.id }, () =>
			call("inventory.adjust", { productId: product.id, delta: 1, reason: "RESTOCK" })
		);
		expect(seen.map(m => m.id)).toEqual(before.items.map(m => m.id));
	});

	it("walks the stock list and the audit trail once each while they grow", async () => {
		const stocks = await walk<Stock>("inventory.list", {}, () => call("products.create", { name: "More", price: 1, stock: 1 }));
		expect(new Set(stocks.map(s => s.productId)).size).toBe(stocks.length);

		const record = () =>
			call("audit.recordRequest", {
				id: randomUUID(),
				occurredAt: new Date().toISOString(),
				actor: "tester",
				method: "POST",
				route: "/walk",
				path: "/walk",
				status: 201,
				durationMs: 1,
				correlationId: "walk"
			});
		for (let i = 0; i < 7; i++) await record();
		const before = await call<Page<{ id: string }>>("audit.search", { correlationId: "walk", pageSize: 100 });
		const seen = await walk<{ id: string }>("audit.search", { correlationId: "walk" }, record);
		expect(seen.map(e => e.id)).toEqual(before.items.map(e => e.id));
	});

	it.each([
		["garbage", "not-a-cursor"],
		["a cursor of another sort", cursorAfter([{ attribute: "name", column: "name", direction: "ASC", kind: "text" }, { attribute: "id", column: "id", direction: "ASC", kind: "uuid" }], { name: "a", id: randomUUID() })],
		// The products list's own sort, with a time that is not one: never sent on to the database.
		["a forged position", Buffer.from(JSON.stringify({ s: "createdAt:DESC,id:ASC", v: ["yesterday", randomUUID()] })).toString("base64url")]
	])("refuses %s as a cursor with 400 INVALID_CURSOR", async (_what, cursor) => {
		await expect(call("products.list", { cursor })).rejects.toMatchObject({ code: 400, type: "INVALID_CURSOR" });
		await expect(call("inventory.list", { cursor })).rejects.toMatchObject({ code: 400, type: "INVALID_CURSOR" });
		await expect(call("audit.search", { cursor })).rejects.toMatchObject({ code: 400, type: "INVALID_CURSOR" });
	});

	it("refuses a cursor that is not base64url, or one given with a page number, with 422", async () => {
		await expect(call("products.list", { cursor: "a b" })).rejects.toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
		const { nextCursor } = await call<Page<Product>>("products.list", { pageSize: 1 });
		await expect(call("products.list", { pageSize: 1, page: 2, cursor: nextCursor })).rejects.toMatchObject({
			code: 422,
			data: [expect.objectContaining({ field: "page" })]
		});
	});

	describe("a catalog larger than the exact-count limit", () => {
		const rows = EXACT_COUNT_LIMIT + 2000;
		beforeAll(async () => {
			const db = dbOf("products");
			const now = new Date().toISOString();
			// Straight into the table: 12,000 creations through the action would take minutes.
			const values = (from: number, to: number) =>
				Array.from({ length: to - from }, (_, k) => {
					const i = from + k;
					return `('${randomUUID()}', 'BULK-${i}', 'Bulk ${i} ${i % 7 === 0 ? "zebra" : "plain"}', NULL, 'bulk', 100, 'EUR', ${dialect === "postgres" ? "true" : 1}, 1, '${now}', '${now}')`;
				}).join(",");
			for (let from = 0; from < rows; from += 2000)
				await db.rows(
					`INSERT INTO products (id, sku, name, description, category, price_cents, currency, active, version, created_at, updated_at) VALUES ${values(from, Math.min(rows, from + 2000))} RETURNING id`
				);
			if (dialect === "postgres") await db.rows("ANALYZE products");
		});

		if (dialect === "postgres") it("marks a total past the limit as estimated, and counts a small filter exactly", async () => {
			const all = await call<Page<Product>>("products.list", { category: "bulk" });
			expect(all.totalEstimated).toBe(true);
			expect(all.total).toBeGreaterThan(EXACT_COUNT_LIMIT);
			const few = await call<Page<Product>>("products.list", { category: "bulk", q: "Bulk 1234 " });
			expect(few).toMatchObject({ total: 1, totalEstimated: false });
		});

		if (dialect === "sqlite") it("counts exactly on SQLite, whatever the size", async () => {
			await expect(call<Page<Product>>("products.list", { category: "bulk" })).resolves.toMatchObject({ total: rows, totalEstimated: false });
		});

		if (dialect === "postgres") it("serves `q` from the trigram indexes in the plan of the query the action runs", async () => {
			const db = dbOf("products");
			const statements: string[] = [];
			// Sequelize's logging hook sees each statement with its replacements in place.
			const options = (db.sequelize as unknown as { options: { logging: unknown } }).options;
			const logging = options.logging;
			options.logging = (sql: string) => void statements.push(sql.replace(/^Executing \([^)]*\): /, ""));
			try {
				await call("products.list", { q: "bulk 1234" });
			} finally {
				options.logging = logging;
			}
			const page = statements.find(sql => /ORDER BY/.test(sql))!;
			expect(page).toContain("LIKE");
			// 12,000 rows fit in a few pages, which the planner rightly reads whole, or in the order of the
			// created_at index, rather than look up the text: with both priced out, the plan shows which
			// index serves the filter (bench:scale shows the planner choosing it by itself at 1,000,000 rows).
			const plan = await db.transaction(async tx => {
				await db.rows("SET LOCAL enable_seqscan = off", {}, tx);
				await db.rows("SET LOCAL enable_indexscan = off", {}, tx);
				return db.rows<{ "QUERY PLAN": string }>(`EXPLAIN ${page.replace(/^\/\* rows \*\/ /, "")}`, {}, tx);
			});
			const text = plan.map(line => line["QUERY PLAN"]).join("\n");
			for (const column of ["name", "sku", "description"]) expect(text).toContain(`products_${column}_trgm`);
		});
	});
});
