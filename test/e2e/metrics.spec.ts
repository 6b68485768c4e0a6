/**
 * The metrics port, as a scraper (or anyone who reaches it) sees it: what operators need,
 * nothing about the host, on the address the deployment chose.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { homedir, hostname, networkInterfaces, tmpdir, userInfo } from "node:os";
import { join, resolve } from "node:path";
import { freePort, spawnNode, waitReady } from "../../scripts/cluster-nodes";
import { startNode } from "../helpers/nodes";
import { waitFor } from "../helpers/wait";

/** The host's own addresses and MACs (not loopback's, which every host shares). */
function hostAddresses(): string[] {
	const found = new Set<string>();
	for (const entries of Object.values(networkInterfaces()))
		for (const entry of entries ?? []) {
			if (entry.internal) continue;
			found.add(entry.address);
			if (entry.mac !== "00:00:00:00:00:00") found.add(entry.mac);
		}
	return [...found];
}

/** Every word of the text (letters and digits), lower-cased: a short host or user name must match one, not a part of one. */
const wordsOf = (text: string) => new Set(text.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean));

describe("the metrics port", () => {
	let dir: string;
	beforeAll(() => {
		dir = mkdtempSync(join(tmpdir(), "pi-metrics-"));
	});
	afterAll(() => rmSync(dir, { recursive: true, force: true }));

	it("exports what operators need and nothing about the host, from a server started as npm start does", async () => {
		const [port, metricsPort] = [await freePort(), await freePort()];
		// No NODE_ID: the node names itself, as a bare `npm start` does.
		const node = spawnNode(
			{ name: "metrics-test", services: "all", port, env: { NODE_ID: "", METRICS_PORT: String(metricsPort), DATABASE_URL: `sqlite:${join(dir, "inventory.sqlite")}` } },
			{ NODE_ENV: "development", LOG_LEVEL: "warn" }
		);
		try {
			await waitReady(port);
			const headers = { "X-API-Key": "dev-key-change-me", "Content-Type": "application/json" };
			expect((await fetch(`http://127.0.0.1:${port}/api/v1/products`, { method: "POST", headers, body: JSON.stringify({ name: "Scraped", price: 1 }) })).status).toBe(201);
			expect((await fetch(`http://127.0.0.1:${port}/api/v1/products`, { headers })).status).toBe(200);
			const text = await waitFor(async () => {
				const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
				return scraped.includes('action="products.create"') && scraped;
			});

			const words = wordsOf(text);
			const names = [hostname(), userInfo().username].filter(name => words.has(name.toLowerCase()));
			const secrets = [homedir(), process.execPath, resolve("server.ts"), ...hostAddresses()].filter(secret => text.includes(secret));
			expect([...names, ...secrets]).toEqual([]);
			// The families Moleculer would have added, whatever they hold.
			expect(text).not.toMatch(/^(os_|process_arguments|process_versions)/m);

			for (const name of [
				"process_cpu_seconds_total",
				"process_cpu_user_seconds_total",
				"process_resident_memory_bytes",
				"process_start_time_seconds",
				"nodejs_heap_size_used_bytes",
				"nodejs_eventloop_lag_seconds",
				"nodejs_active_resources",
				"moleculer_request_total",
				"moleculer_cacher_get_total",
				"outbox_backlog_events"
			])
				expect(text).toMatch(new RegExp(`^${name}(\\{| )`, "m"));
		} finally {
			await node.stop();
		}
	}, 90_000);

	it("listens on 127.0.0.1 unless METRICS_HOST says otherwise", async () => {
		const external = Object.values(networkInterfaces())
			.flat()
			.find(entry => entry && !entry.internal && entry.family === "IPv4")?.address;
		if (!external) throw new Error("this test needs a network interface other than loopback, to show the port is not reachable on it");
		const scrape = (host: string, port: number) => fetch(`http://${host}:${port}/metrics`).then(response => response.status);

		const loopbackPort = await freePort();
		const loopback = await startNode({ SERVICES: "api", METRICS_PORT: String(loopbackPort) });
		try {
			await expect(scrape("127.0.0.1", loopbackPort)).resolves.toBe(200);
			await expect(scrape(external, loopbackPort)).rejects.toThrow();
		} finally {
			await loopback.stop();
		}

		const everywherePort = await freePort();
		const everywhere = await startNode({ SERVICES: "api", METRICS_PORT: String(everywherePort), METRICS_HOST: "0.0.0.0" });
		try {
			await expect(scrape(external, everywherePort)).resolves.toBe(200);
		} finally {
			await everywhere.stop();
		}
	});
});
