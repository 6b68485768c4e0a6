/**
 * The bench's wrk runner (bench/wrk.ts) against a real HTTP server: what it reports is what
 * the server saw, a list of paths is sent in turn, and wrk's own CPU is measured.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { runWrk } from "../../bench/wrk";
import { requiredTool } from "../helpers/tools";

const wrk = requiredTool(["wrk"], "apt-get install -y --no-install-recommends wrk");

(wrk ? describe : describe.skip)("the bench's wrk runner", () => {
	jest.setTimeout(30_000);
	const seen = new Map<string, number>();
	let server: Server;
	let url: string;

	beforeAll(async () => {
		server = createServer((req, res) => {
			seen.set(req.url!, (seen.get(req.url!) ?? 0) + 1);
			if (req.headers["x-api-key"] !== "k") res.statusCode = 401;
			else if (req.url === "/missing") res.statusCode = 404;
			res.end("{}");
		});
		await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
		url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	});
	afterAll(() => new Promise(resolve => server.close(resolve)));
	beforeEach(() => seen.clear());

	it("reports the answers the server gave, with its headers sent, and the CPU wrk used", async () => {
		const result = await runWrk({ url, path: "/one", headers: { "X-API-Key": "k" }, duration: 1, connections: 4 });
		const served = seen.get("/one") ?? 0;
		expect(result.responses).toBeGreaterThan(100);
		// wrk stops with requests in flight: the server may have answered a few more than it counted.
		expect(served - result.responses).toBeGreaterThanOrEqual(0);
		expect(served - result.responses).toBeLessThanOrEqual(4);
		expect(result.non2xx).toBe(0);
		expect(result.errors).toBe(0);
		expect(result.latencyMs.p50).toBeGreaterThan(0);
		expect(result.latencyMs.p95).toBeGreaterThanOrEqual(result.latencyMs.p50);
		expect(result.generatorCpu).toBeGreaterThan(0);
	});

	it("sends a list of paths in turn and counts the answers of 400 and above", async () => {
		const result = await runWrk({ url, paths: ["/a", "/b", "/missing"], headers: { "X-API-Key": "k" }, duration: 1, connections: 3 });
		expect([...seen.keys()].sort()).toEqual(["/a", "/b", "/missing"]);
		const missing = seen.get("/missing")!;
		expect(result.non2xx).toBeGreaterThanOrEqual(missing - 3);
		expect(result.non2xx).toBeLessThanOrEqual(missing);
		expect(Math.abs(missing - result.responses / 3)).toBeLessThan(result.responses * 0.05);
	});
});
