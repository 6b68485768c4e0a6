/**
 * Scenario (u)'s load (bench/users-load.ts) against two real HTTP servers standing in for
 * the gateways: a thread's connections go to one server each, nothing is sent while the
 * connections are held, every connection thinks between requests, purchases carry keys of
 * their own and valid bodies and stop before the end, and the 201s per product wrk counts
 * are the ones the servers gave.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { startUsers, type UsersPlan } from "../../bench/users-load";
import { requiredTool } from "../helpers/tools";

const wrk = requiredTool(["wrk"], "apt-get install -y --no-install-recommends wrk");

interface Seen {
	connections: number;
	/** Requests per connection, in arrival order. */
	perConnection: number[];
	requests: { at: number; method: string; url: string; key?: string; body?: string }[];
}

function gateway(seen: Seen): Server {
	return createServer((req, res) => {
		const index = (req.socket as { benchIndex?: number }).benchIndex!;
		seen.perConnection[index]++;
		let body = "";
		req.on("data", chunk => (body += chunk));
		req.on("end", () => {
			const key = req.headers["idempotency-key"] as string | undefined;
			seen.requests.push({ at: Date.now(), method: req.method!, url: req.url!, key, body: body || undefined });
			if (req.headers["x-api-key"] !== "k") res.statusCode = 401;
			else if (req.method === "POST") {
				res.statusCode = 201;
				const { items } = JSON.parse(body) as { items: { productId: string }[] };
				return void res.end(JSON.stringify({ id: key, status: "PENDING", items: [{ productId: items[0].productId, quantity: 1 }] }));
			} else if (req.url === "/missing") res.statusCode = 404;
			res.end("{}");
		});
	}).on("connection", socket => {
		(socket as { benchIndex?: number }).benchIndex = seen.connections++;
		seen.perConnection.push(0);
	});
}

(wrk ? describe : describe.skip)("scenario (u)'s wrk load", () => {
	jest.setTimeout(30_000);
	const seen: Seen[] = [];
	const servers: Server[] = [];
	const urls: string[] = [];

	beforeAll(async () => {
		for (let i = 0; i < 2; i++) {
			seen.push({ connections: 0, perConnection: [], requests: [] });
			const server = gateway(seen[i]);
			await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
			servers.push(server);
			urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
		}
	});
	afterAll(() => Promise.all(servers.map(server => new Promise(resolve => server.close(resolve)))));

	it("holds its connections, paces each, and counts the purchases the servers created", async () => {
		const pool = ["p-1", "p-2", "p-3"];
		const plan: UsersPlan = {
			targets: urls,
			connectionsPerTarget: 8,
			headers: { "X-API-Key": "k" },
			paths: ["/a", "/b", "/missing"],
			thinkMs: { min: 50, max: 150 },
			holdMs: 800,
			activeSeconds: 3,
			purchases: { pool, share: 0.3, customerId: "c-1", keyPrefix: "t", stopBeforeEndSeconds: 1 },
			openFiles: 4096
		};
		const run = startUsers(plan);
		const result = await run.finished;

		// A thread per server, all its connections there (wrk may open one more while it checks the URL).
		for (const s of seen) {
			expect(s.connections).toBeGreaterThanOrEqual(8);
			expect(s.connections).toBeLessThanOrEqual(9);
		}
		const requests = seen.flatMap(s => s.requests);
		expect(Math.min(...requests.map(r => r.at))).toBeGreaterThanOrEqual(run.sendingAt - 5);
		// Each connection waits at least the shortest think time between answer and request.
		const mostPerConnection = Math.floor((plan.activeSeconds * 1000) / plan.thinkMs!.min) + 2;
		for (const s of seen) expect(Math.max(...s.perConnection)).toBeLessThanOrEqual(mostPerConnection);

		const purchases = requests.filter(r => r.method === "POST");
		expect(purchases.length).toBeGreaterThan(0);
		expect(Math.max(...purchases.map(r => r.at))).toBeLessThanOrEqual(run.purchasesUntil + 50);
		expect(new Set(purchases.map(r => r.key)).size).toBe(purchases.length);
		for (const p of purchases) {
			expect(p.url).toBe("/api/v1/purchases");
			expect(JSON.parse(p.body!)).toEqual({ items: [{ productId: expect.stringMatching(/^p-[123]$/), quantity: 1 }], customerId: "c-1" });
		}
		const perProduct = pool.map(id => purchases.filter(p => JSON.parse(p.body!).items[0].productId === id).length);
		expect(result.purchasesCreated).toEqual(perProduct);
		expect(result.purchasesSent).toEqual(perProduct);

		const missing = requests.filter(r => r.url === "/missing").length;
		expect(result.statuses["404"]).toBe(missing);
		expect(result.load.non2xx).toBe(missing);
		expect(result.statuses["201"]).toBe(purchases.length);
		expect(result.socketErrors).toEqual({ connect: 0, read: 0, write: 0, timeout: 0 });
	});
});
