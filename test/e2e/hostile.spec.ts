/**
 * A property-based fuzz of the API, driven by the OpenAPI document a started node serves
 * (test/helpers/hostile-requests.ts): with a fixed seed, every generated request is sent
 * without a valid key and then with one, and every answer must be
 * - no 5xx;
 * - what the document says of that operation and status, problem+json or the documented
 *   body, with its documented headers (the contract checker, test/helpers/contract.ts);
 * - without a valid key, a 401 (or the 404/405 of a route that is not there);
 * - a refusal (and every read) changes nothing: the services' rows (products and their
 *   versions, stocks and their levels, purchases and their states, reservations, the
 *   ledger) and the number of events their outboxes wrote are what they were before.
 * An accepted change moves the baseline, once every event it caused has been delivered.
 */
import { request as httpRequest, Agent, type IncomingHttpHeaders } from "node:http";
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import type { ServiceBroker } from "moleculer";
import { testDialects } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import { TEST_API_KEY } from "../helpers/nodes";
import { servedContract, isMalformedPathAnswer, type Contract } from "../helpers/contract";
import { outboxesDrained } from "../helpers/outbox";
import { catalog } from "../helpers/catalog";
import { bodyBytes, hostileRequests, resolve, type HostileRequest, type IdKind } from "../helpers/hostile-requests";
import type { DbServiceThis } from "../../mixins/db.mixin";

const SEED = 20261201;
/** Each run sends its request twice (without a valid key, then with one): 2 200 requests. */
const RUNS = 1100;
const WRONG_KEY = "wrong-key-0123456789";
/** Products with stock the fuzz aims at, kept at least this many. */
const TARGETS = 4;

interface Answer {
	status: number;
	headers: Headers;
	body: unknown;
}

function headersOf(raw: IncomingHttpHeaders): Headers {
	const headers = new Headers();
	for (const [name, value] of Object.entries(raw)) if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
	return headers;
}

/** Sends exactly this request (any method may carry a body) and reads the whole answer. */
function send(agent: Agent, baseUrl: string, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
	return new Promise((resolvePromise, reject) => {
		// The path goes as it is: a URL would be normalized first (`/a/%2e%2e/b` is `/b` to WHATWG URL).
		const { hostname, port } = new URL(baseUrl);
		const options = { hostname, port, path, method, headers: body ? { ...headers, "Content-Length": String(body.length) } : headers, agent };
		const req = httpRequest(options, res => {
			const chunks: Buffer[] = [];
			res.on("data", (chunk: Buffer) => chunks.push(chunk));
			res.on("error", reject);
			res.on("end", () => {
				const text = Buffer.concat(chunks).toString("utf8");
				const type = res.headers["content-type"] ?? "";
				let parsed: unknown = text;
				if (type.includes("json") && text) parsed = JSON.parse(text);
				resolvePromise({ status: res.statusCode!, headers: headersOf(res.headers), body: parsed });
			});
		});
		req.on("error", reject);
		req.end(body);
	});
}

interface State {
	/** Each table's rows (or count) as JSON, by name. */
	parts: Record<string, string>;
	ids: Record<IdKind, string[]>;
}

/** What the services hold, read from their own databases: anything a change would have changed. */
async function stateOf(broker: ServiceBroker): Promise<State> {
	const db = (service: string) => (broker.getLocalService(service) as unknown as DbServiceThis).db;
	const rows = (service: string, sql: string) => db(service).rows<Record<string, unknown>>(sql);
	const products = await rows("products", "SELECT id, version FROM products ORDER BY id");
	const purchases = await rows("purchases", "SELECT id, status, reservation_state, updated_at FROM purchases ORDER BY id");
	const state: Record<string, unknown> = {
		products,
		purchases,
		stocks: await rows("inventory", "SELECT product_id, on_hand, reserved, low_stock_threshold, version FROM stocks ORDER BY product_id"),
		reservations: await rows("inventory", "SELECT id, status FROM reservations ORDER BY id"),
		movements: await rows("inventory", "SELECT count(*) AS n FROM stock_movements"),
		// Every change writes its events in its transaction: a count that moved is a change, whatever it was.
		events: await Promise.all(["products", "inventory", "purchases"].map(service => rows(service, "SELECT count(*) AS n FROM outbox")))
	};
	const json = (value: unknown) => JSON.stringify(value, (_key, item: unknown) => (item instanceof Date ? item.toISOString() : item));
	return {
		parts: Object.fromEntries(Object.entries(state).map(([name, value]) => [name, json(value)])),
		ids: { product: products.map(p => String(p.id)), purchase: purchases.map(p => String(p.id)) }
	};
}

/** The tables whose rows differ, before and after. */
function differences(before: State, after: State): string[] {
	return Object.keys(before.parts)
		.filter(name => before.parts[name] !== after.parts[name])
		.map(name => `${name}:\n  before ${before.parts[name].slice(0, 400)}\n  after  ${after.parts[name].slice(0, 400)}`);
}

const describeRequest = (request: HostileRequest, path: string, key: string) =>
	`${request.method} ${path} (${request.operation}; ${key}${request.changes.length ? `; ${request.changes.join("; ")}` : ""})`;

describe.each(testDialects())("hostile requests from the OpenAPI document on %s", dialect => {
	const suite = useNode(dialect);
	const { productWithStock } = catalog(() => suite.node.broker);
	let contract: Contract;
	const agent = new Agent({ keepAlive: true, maxSockets: 1 });

	beforeAll(async () => {
		contract = await servedContract(suite.node.baseUrl!);
		// Things to aim at: products with stock, and purchases in each state.
		const products = [];
		for (let i = 0; i < TARGETS; i++) products.push(await productWithStock(1000, { name: `Target ${i}`, price: 1 + i }));
		const call = (action: string, params: object) => suite.node.broker.call(action, params) as Promise<{ id: string }>;
		for (const product of products) {
			await call("purchases.create", { items: [{ productId: product.id, quantity: 1 }] });
			const confirmed = await call("purchases.create", { items: [{ productId: product.id, quantity: 2 }] });
			await call("purchases.confirm", { id: confirmed.id });
		}
		await outboxesDrained(suite.node.broker);
	});

	afterAll(() => agent.destroy());

	it(`answers ${RUNS * 2} hostile requests (seed ${SEED}) with no 5xx, only what the document says, and changes only through what it accepts`, async () => {
		const broker = suite.node.broker;
		const base = suite.node.baseUrl!;
		const statuses = new Map<number, number>();
		let sent = 0;
		let baseline = await stateOf(broker);

		async function sendAndCheck(request: HostileRequest, key: string | undefined): Promise<Answer> {
			const path = resolve(request.path, baseline.ids, randomUUID);
			const text = request.body === undefined ? undefined : resolve(request.body, baseline.ids, randomUUID);
			const headers = { ...request.headers, ...(key ? { "X-API-Key": key } : {}) };
			const what = describeRequest(request, path, key === TEST_API_KEY ? "with the key" : key ? "with a wrong key" : "without a key");
			const answer = await send(agent, base, request.method, path, headers, text === undefined ? undefined : bodyBytes(request, text));
			sent++;
			statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
			if (answer.status >= 500) throw new Error(`${what} -> ${answer.status}: ${JSON.stringify(answer.body).slice(0, 500)}`);
			const departures = contract.check({ method: request.method, path, status: answer.status, headers: answer.headers, body: answer.body });
			if (departures.length > 0) throw new Error(`${what} departs from the document:\n${departures.join("\n")}\n(answered ${JSON.stringify(answer.body).slice(0, 500)})`);
			const changes = answer.status < 300 && request.method !== "GET";
			if (changes) {
				await outboxesDrained(broker);
				baseline = await stateOf(broker);
				// Deletes must not leave the fuzz with nothing to aim at.
				if (baseline.ids.product.length < TARGETS) {
					await productWithStock(1000, { name: "Replacement", price: 1 });
					await outboxesDrained(broker);
					baseline = await stateOf(broker);
				}
				return answer;
			}
			const changed = differences(baseline, await stateOf(broker));
			if (changed.length > 0) throw new Error(`${what} -> ${answer.status} changed data:\n${changed.join("\n")}`);
			return answer;
		}

		await fc.assert(
			fc.asyncProperty(hostileRequests(contract.doc), fc.constantFrom(undefined, WRONG_KEY), async (request, badKey) => {
				const refused = await sendAndCheck(request, badKey);
				// Without a valid key a route answers 401 whatever else is wrong; only a route that is not there says so instead.
				if (request.path.startsWith("/api/v1/") && refused.status !== 401 && !isUnrouted(refused) && !isMalformedPathAnswer({ ...refused, path: request.path }))
					throw new Error(`${describeRequest(request, request.path, badKey ? "with a wrong key" : "without a key")} -> ${refused.status}, not 401`);
				await sendAndCheck(request, TEST_API_KEY);
			}),
			{ seed: SEED, numRuns: RUNS, endOnFailure: true }
		);

		expect(sent).toBeGreaterThanOrEqual(2000);
		// The run reached every kind of refusal and some successes: it did not fuzz one corner only.
		const seen = [...statuses.keys()];
		expect(seen.filter(status => status < 300).length).toBeGreaterThan(0);
		for (const status of [400, 401, 404, 405, 409, 415, 422]) expect(seen).toContain(status);
		expect(contract.departures).toEqual([]);
	}, 600_000);
});

/** The 404 or 405 the gateway gives a path or method no route takes, before any key is asked for. */
const isUnrouted = (answer: Answer) => ["NOT_FOUND", "METHOD_NOT_ALLOWED"].includes(String((answer.body as { code?: unknown } | undefined)?.code));
