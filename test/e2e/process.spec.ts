import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../helpers/wait";
import { freePort } from "../../scripts/cluster-nodes";
import { spawnNode } from "../../scripts/cluster-nodes";

const KEY = "process-secret-key-42";
const REFUSED = "refused-value-never-logged";

/** Runs server.ts as `npm start` does, on all services, collecting everything it prints. */
function startServer(env: Record<string, string>) {
	const node = spawnNode({ name: "process-test", services: "all", env }, { NODE_ENV: "development" });
	return { child: node.child, output: node.output, exited: node.exited };
}

describe("the server process", () => {
	let dir: string;
	beforeAll(() => {
		dir = mkdtempSync(join(tmpdir(), "pi-process-"));
	});
	afterAll(() => rmSync(dir, { recursive: true, force: true }));

	it("stops at start with one line naming a bad setting", async () => {
		const { output, exited } = startServer({ PORT: "not-a-port", DATABASE_URL: `sqlite:${join(dir, "bad.sqlite")}` });
		await expect(exited).resolves.toBe(1);
		expect(output.join("").trim()).toBe('Invalid configuration: PORT: expected a whole number, got "not-a-port"');
	});

	it("serves, exports Prometheus metrics, never logs the API key or a refused value, and stops cleanly on SIGTERM", async () => {
		const port = await freePort();
		const metricsPort = await freePort();
		const server = startServer({
			PORT: String(port),
			METRICS_PORT: String(metricsPort),
			LOG_LEVEL: "debug",
			API_KEYS: `shop:${KEY}`,
			DATABASE_URL: `sqlite:${join(dir, "inventory.sqlite")}`
		});
		const base = `http://127.0.0.1:${port}`;
		try {
			await waitFor(async () => (await fetch(`${base}/health/ready`)).status === 200, 20_000);
			const headers = { "X-API-Key": KEY, "Content-Type": "application/json" };
			const created = await fetch(`${base}/api/v1/products`, { method: "POST", headers, body: JSON.stringify({ name: "Logged", price: 1, stock: 1 }) });
			expect(created.status).toBe(201);
			// Moleculer prints a refused call's error at debug, whose data holds the values it refused.
			const refused = await fetch(`${base}/api/v1/purchases`, { method: "POST", headers, body: JSON.stringify({ items: [{ productId: REFUSED, quantity: 1 }] }) });
			expect(refused.status).toBe(422);
			const wrong = await fetch(`${base}/api/v1/products`, { headers: { "X-API-Key": `${KEY}-wrong` } });
			expect(wrong.status).toBe(401);
			const { id } = (await created.json()) as { id: string };
			expect((await fetch(`${base}/api/v1/products/${id}`, { headers })).status).toBe(200);
			// Prometheus text: request, cache and outbox figures.
			const metrics = await waitFor(async () => {
				const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
				return /outbox_published_events_total\{[^}]*service="products"[^}]*\} [1-9]/.test(text) && text;
			});
			expect(metrics).toContain("moleculer_request_total");
			expect(metrics).toContain("moleculer_cacher_get_total");
			expect(metrics).toMatch(/outbox_backlog_events\{[^}]*service="inventory"/);
			server.child.kill("SIGTERM");
			await expect(server.exited).resolves.toBe(0);
		} finally {
			server.child.kill("SIGKILL");
		}
		const logs = server.output.join("");
		expect(logs).toContain("ServiceBroker with");
		expect(logs).not.toContain(KEY);
		expect(logs).toContain("The 'purchases.create' request is rejected.");
		expect(logs).not.toContain(REFUSED);
	}, 60_000);

	it("answers probes on HEALTH_PORT on a node without a gateway: live at once, ready once its own services and databases are, draining after SIGTERM", async () => {
		const healthPort = await freePort();
		const node = spawnNode(
			{ name: "health-test", services: "products,inventory", env: { HEALTH_PORT: String(healthPort), DRAIN_SECONDS: "3", DATABASE_URL: `sqlite:${join(dir, "health.sqlite")}` } },
			{ NODE_ENV: "development", METRICS_PORT: "0" }
		);
		const probe = async (path: string) => {
			const response = await fetch(`http://127.0.0.1:${healthPort}${path}`);
			return { status: response.status, body: (await response.json()) as { status: string; checks?: Record<string, string> } };
		};
		try {
			await waitFor(async () => (await probe("/health/live")).status === 200, 20_000);
			const ready = await waitFor(async () => {
				const answer = await probe("/health/ready");
				return answer.status === 200 && answer;
			}, 30_000);
			expect(ready.body).toEqual({
				status: "ready",
				checks: { "products.database": "up", "inventory.database": "up", transporter: "in-process", cacher: "in-memory" }
			});
			await expect(probe("/metrics")).resolves.toMatchObject({ status: 404 });
			node.child.kill("SIGTERM");
			await expect(waitFor(async () => (await probe("/health/ready")).body.status === "draining")).resolves.toBe(true);
			await expect(node.exited).resolves.toBe(0);
		} finally {
			node.child.kill("SIGKILL");
		}
	}, 60_000);
});
