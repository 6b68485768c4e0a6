/**
 * The data and the request mixes of the scenarios: seeded products, a Zipf sampler for
 * skewed reads, the purchase workload with its per-product bookkeeping, and the check that
 * nothing was oversold afterwards.
 */
import { randomUUID } from "node:crypto";
import type autocannon from "autocannon";
import type { PacedRequest } from "./paced-load";
import { connectPostgres } from "./resources";

const WORDS = ["Desk Lamp", "Notebook", "Office Chair", "Monitor", "Keyboard", "Coffee Mug", "Fountain Pen", "Backpack", "USB Cable", "Speaker"];
const CATEGORIES = WORDS.map((_, i) => `category-${i}`);

export interface ProductSpec {
	name: string;
	price: number;
	category: string;
	description: string;
	stock: number;
	lowStockThreshold: number;
}

/** The i-th product of a seed: realistic sizes, ten categories, searchable names. */
export function productSpec(i: number, stock: number): ProductSpec {
	const word = WORDS[i % WORDS.length];
	return {
		name: `${word} ${String(i + 1).padStart(4, "0")}`,
		price: Math.round((5 + ((i * 7919) % 50_000) / 100) * 100) / 100,
		category: CATEGORIES[i % CATEGORIES.length],
		description: `${word} for the benchmark catalog, item ${i + 1}: sturdy, simple, in stock.`,
		stock,
		lowStockThreshold: 5
	};
}

/**
 * The JSON the API answers for a product created from `spec` (same fields, order and
 * sizes, made up id and sku): the bare baseline answers it, so both send the same bytes.
 */
export function productJsonLike(spec: ProductSpec): string {
	const now = new Date().toISOString();
	return JSON.stringify({
		id: "7c0e1f9e-3a57-4bb4-9d7e-0c6a8f4f2b11",
		sku: `${spec.name.toUpperCase().replace(/[^A-Z0-9]+/g, "-")}-K3ZQ7P`,
		name: spec.name,
		description: spec.description,
		category: spec.category,
		price: spec.price,
		currency: "EUR",
		active: true,
		version: 1,
		createdAt: now,
		updatedAt: now
	});
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** The gateway's HTTP API with the bench's key. */
export class Api {
	constructor(
		readonly baseUrl: string,
		readonly key: string
	) {}

	get headers(): Record<string, string> {
		return { "X-API-Key": this.key, "Content-Type": "application/json" };
	}

	async request(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
		const res = await fetch(this.baseUrl + path, {
			method,
			headers: this.headers,
			body: body === undefined ? undefined : JSON.stringify(body),
			signal: AbortSignal.timeout(15_000)
		});
		return { status: res.status, text: await res.text() };
	}
}

/** Runs `work` over `items` with at most `concurrency` at a time, keeping the order of results. */
async function pool<T, R>(items: T[], concurrency: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
	const results = new Array<R>(items.length);
	let next = 0;
	const worker = async () => {
		while (next < items.length) {
			const index = next++;
			results[index] = await work(items[index], index);
		}
	};
	await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
	return results;
}

/** Creates the products through POST /api/v1/products (retrying 5xx and network errors); returns their ids in order. */
export async function seedProducts(api: Api, specs: ProductSpec[], concurrency = 16): Promise<string[]> {
	return pool(specs, concurrency, async spec => {
		let last = "";
		for (let attempt = 1; attempt <= 4; attempt++) {
			try {
				const res = await api.request("POST", "/api/v1/products", spec);
				if (res.status === 201) return (JSON.parse(res.text) as { id: string }).id;
				last = `${res.status} ${res.text.slice(0, 300)}`;
				if (res.status < 500) break;
			} catch (err) {
				last = (err as Error).message;
			}
			await sleep(200 * attempt);
		}
		throw new Error(`seeding "${spec.name}" failed: ${last}`);
	});
}

/** Waits until every product's stock record exists (it is opened through the product.created event). */
export async function waitForStock(api: Api, ids: string[], timeoutMs = 60_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	let missing = ids;
	while (missing.length > 0) {
		const found = await pool(missing, 16, async id => (await api.request("GET", `/api/v1/inventory/${id}`)).status === 200);
		missing = missing.filter((_, i) => !found[i]);
		if (missing.length === 0) return;
		if (Date.now() > deadline) throw new Error(`${missing.length} stock records still missing after ${timeoutMs / 1000} s`);
		await sleep(250);
	}
}

/** Ranks 0..n-1 drawn with P(k) proportional to 1 / (k+1)^s. */
export class Zipf {
	private readonly cdf: Float64Array;

	constructor(n: number, s: number) {
		this.cdf = new Float64Array(n);
		let total = 0;
		for (let k = 0; k < n; k++) this.cdf[k] = total += 1 / (k + 1) ** s;
		for (let k = 0; k < n; k++) this.cdf[k] /= total;
	}

	next(): number {
		const u = Math.random();
		let lo = 0;
		let hi = this.cdf.length - 1;
		while (lo < hi) {
			const mid = (lo + hi) >> 1;
			if (this.cdf[mid] < u) lo = mid + 1;
			else hi = mid;
		}
		return lo;
	}
}

/** The list queries of the mixed scenario, most popular first: plain pages, categories, sorts, searches. */
function listQueries(): string[] {
	return [
		"?page=1&pageSize=20",
		...CATEGORIES.slice(0, 5).map(c => `?category=${c}`),
		"?page=2&pageSize=20",
		"?sort=-price&page=1",
		"?q=lamp",
		"?active=true&sort=name",
		"?page=3&pageSize=20",
		...CATEGORIES.slice(5).map(c => `?category=${c}&sort=-price`),
		"?q=mug&pageSize=50",
		"?sort=-createdAt&page=2",
		"?q=keyboard&category=category-4"
	];
}

export interface MixCounts {
	get: number;
	list: number;
}

/** Scenario (c): 80 % GET by id, 20 % list pages, ids and list queries both Zipf(s)-distributed. */
export function zipfMix(ids: string[], s: number, getShare: number, counts: MixCounts): autocannon.Request[] {
	const idRanks = new Zipf(ids.length, s);
	const queries = listQueries();
	const queryRanks = new Zipf(queries.length, s);
	return [
		{
			method: "GET",
			setupRequest(request) {
				if (Math.random() < getShare) {
					counts.get++;
					request.path = `/api/v1/products/${ids[idRanks.next()]}`;
				} else {
					counts.list++;
					request.path = `/api/v1/products${queries[queryRanks.next()]}`;
				}
				return request;
			}
		}
	];
}

/** The same mix as `zipfMix`, drawn once as a list of paths for wrk to send in turn. */
export function zipfPaths(ids: string[], s: number, getShare: number, length: number): { paths: string[]; counts: MixCounts } {
	const counts: MixCounts = { get: 0, list: 0 };
	const request = zipfMix(ids, s, getShare, counts)[0] as { setupRequest(r: { path?: string }): { path?: string } };
	const paths = Array.from({ length }, () => request.setupRequest({}).path!);
	return { paths, counts };
}

/** What the load generator saw per product of the purchase pool. */
export interface PurchaseLedger {
	/** Requests sent, per product. */
	sent: Map<string, number>;
	/** Answers of any status, per product. */
	answered: Map<string, number>;
	/** 201 Created answers, per product. */
	created: Map<string, number>;
	/** Answers other than 201, by status. */
	rejected: Map<number, number>;
}

export function emptyLedger(): PurchaseLedger {
	return { sent: new Map(), answered: new Map(), created: new Map(), rejected: new Map() };
}

const bump = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);

/**
 * Scenario (d): one unit of a product drawn uniformly from the pool per request. With
 * pipelining 1 and one request in the list, autocannon builds each request right before
 * sending it and reports its answer before building the next, so the connection's
 * context holds the product of the answer being reported.
 */
export function purchaseMix(pool: string[], ledger: PurchaseLedger, customerId: string): autocannon.Request[] {
	return [
		{
			method: "POST",
			setupRequest(request, context) {
				const productId = pool[Math.floor(Math.random() * pool.length)];
				(context as { productId?: string }).productId = productId;
				bump(ledger.sent, productId);
				request.body = JSON.stringify({ items: [{ productId, quantity: 1 }], customerId });
				return request;
			},
			onResponse(status, _body, context) {
				const productId = (context as { productId?: string }).productId;
				if (productId) bump(ledger.answered, productId);
				if (status === 201 && productId) bump(ledger.created, productId);
				else bump(ledger.rejected, status);
			}
		}
	];
}

/**
 * Scenario (k): like (d), one unit of a product drawn from the pool, as a paced request
 * with an Idempotency-Key of its own (a client that never sends it again).
 */
export function pacedPurchase(pool: string[], ledger: PurchaseLedger, customerId: string, headers: Record<string, string>): PacedRequest {
	const productId = pool[Math.floor(Math.random() * pool.length)];
	bump(ledger.sent, productId);
	return {
		method: "POST",
		path: "/api/v1/purchases",
		headers: { ...headers, "Idempotency-Key": randomUUID() },
		body: JSON.stringify({ items: [{ productId, quantity: 1 }], customerId }),
		onAnswer(status) {
			if (status === undefined) return;
			bump(ledger.answered, productId);
			if (status === 201) bump(ledger.created, productId);
			else bump(ledger.rejected, status);
		}
	};
}

export interface DatabaseActivity {
	commits: number;
	inserted: number;
	updated: number;
	deleted: number;
}

/** The database's cumulative transaction and row counters (pg_stat_database; PostgreSQL flushes them about once a second). */
export async function databaseActivity(databaseUrl: string): Promise<DatabaseActivity> {
	const client = await connectPostgres(databaseUrl);
	try {
		const { rows } = await client.query<{ commits: string; inserted: string; updated: string; deleted: string }>(
			`SELECT xact_commit AS commits, tup_inserted AS inserted, tup_updated AS updated, tup_deleted AS deleted
			 FROM pg_stat_database WHERE datname = current_database()`
		);
		const row = rows[0];
		return { commits: Number(row.commits), inserted: Number(row.inserted), updated: Number(row.updated), deleted: Number(row.deleted) };
	} finally {
		await client.end();
	}
}

/** Purchase rows per reservation state (RESERVING: a creation no request finished yet), read from the purchases schema. */
export async function purchaseStates(databaseUrl: string): Promise<Record<string, number>> {
	const client = await connectPostgres(databaseUrl);
	try {
		const { rows } = await client.query<{ state: string; count: string }>(
			"SELECT reservation_state AS state, count(*) AS count FROM purchases.purchases GROUP BY reservation_state"
		);
		return Object.fromEntries(rows.map(row => [row.state, Number(row.count)]));
	} finally {
		await client.end();
	}
}

export interface StockCheck {
	products: number;
	/** 201s counted by the load generator, warm-up included. */
	created: number;
	/** Sum of `reserved` over the pool, read through the API. */
	reserved: number;
	/** Products with reserved > onHand. */
	oversold: number;
	/** Products whose reserved differs from their 201s. */
	mismatched: { productId: string; reserved: number; created: number; unanswered: number }[];
	/** Requests sent without an answer (timeouts, connection errors): they may or may not have reserved. */
	unanswered: number;
	/** Whether the database's own rows agree with the API's answers; null when not read (`databaseError` says why). */
	databaseAgrees: boolean | null;
	databaseError?: string;
	ok: boolean;
}

interface StockView {
	onHand: number;
	reserved: number;
}

/** Reads every pool product's stock (API, and the inventory schema directly when `databaseUrl` is PostgreSQL) and checks it. */
export async function checkStock(api: Api, ledger: PurchaseLedger, poolIds: string[], databaseUrl?: string): Promise<StockCheck> {
	const views = await pool(poolIds, 16, async id => {
		// A 5xx here says nothing about the stock (e.g. the shared engine is out of connections): asked again.
		for (let attempt = 1; ; attempt++) {
			const res = await api.request("GET", `/api/v1/inventory/${id}`);
			if (res.status === 200) return JSON.parse(res.text) as StockView;
			if (res.status < 500 || attempt >= 10) throw new Error(`GET /api/v1/inventory/${id} answered ${res.status} ${res.text.slice(0, 200)}`);
			await sleep(500);
		}
	});
	let databaseAgrees: boolean | null = null;
	let databaseError: string | undefined;
	if (databaseUrl?.startsWith("postgres")) {
		// A second opinion only: the API's answers decide, so a database that cannot be read is noted, not fatal.
		try {
			const client = await connectPostgres(databaseUrl);
			try {
				const { rows } = await client.query<{ id: string; on_hand: number; reserved: number }>(
					"SELECT product_id::text AS id, on_hand, reserved FROM inventory.stocks WHERE product_id = ANY($1::uuid[])",
					[poolIds]
				);
				const byId = new Map(rows.map(row => [row.id, row]));
				databaseAgrees = poolIds.every((id, i) => byId.get(id)?.reserved === views[i].reserved && byId.get(id)?.on_hand === views[i].onHand);
			} finally {
				await client.end();
			}
		} catch (err) {
			databaseError = (err as Error).message;
		}
	}
	const mismatched: StockCheck["mismatched"] = [];
	let oversold = 0;
	let unansweredTotal = 0;
	poolIds.forEach((productId, i) => {
		const { onHand, reserved } = views[i];
		const created = ledger.created.get(productId) ?? 0;
		const unanswered = (ledger.sent.get(productId) ?? 0) - (ledger.answered.get(productId) ?? 0);
		unansweredTotal += unanswered;
		if (reserved > onHand) oversold++;
		if (reserved !== created) mismatched.push({ productId, reserved, created, unanswered });
	});
	const created = poolIds.reduce((total, id) => total + (ledger.created.get(id) ?? 0), 0);
	return {
		products: poolIds.length,
		created,
		reserved: views.reduce((total, v) => total + v.reserved, 0),
		oversold,
		mismatched,
		unanswered: unansweredTotal,
		databaseAgrees,
		databaseError,
		ok: oversold === 0 && mismatched.length === 0 && databaseAgrees !== false
	};
}
