import { randomBytes, randomUUID } from "node:crypto";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { clusterEngines, describeWith } from "../helpers/engines";
import { httpClient } from "../helpers/http";
import { TEST_API_KEY } from "../helpers/nodes";
import { waitFor } from "../helpers/wait";
import { metricIn, scrape } from "../helpers/metrics";
import { freePort } from "../../scripts/cluster-nodes";
import { loadConfig } from "../../config/env";
import { createBrokerOptions } from "../../moleculer.config";
import api from "../../services/api/api.service";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

const engines = clusterEngines();

/** A stand-in for the products service whose reads hang while `failing` is set; `calls` counts the reads that reached it. */
function flakyProducts(state: { failing: boolean; calls: number }): ServiceSchema {
	return {
		name: "products",
		settings: { rest: "/products" },
		actions: {
			get: {
				rest: "GET /:id",
				...{ timeout: 300 },
				params: { id: "string" },
				async handler(ctx) {
					state.calls++;
					if (state.failing) await new Promise(resolve => setTimeout(resolve, 2000));
					return { id: ctx.params.id, name: "Steady" };
				}
			}
		}
	};
}

describeWith(engines)("the circuit breaker between a gateway and a failing service over NATS", () => {
	jest.setTimeout(60_000);
	const state = { failing: false, calls: 0 };
	const opened: string[] = [];
	const closed: string[] = [];
	let gateway: ServiceBroker;
	let service: ServiceBroker;
	let baseUrl = "";
	const request = httpClient(() => baseUrl);

	let metricsPort = 0;
	const breakerOpen = async () => metricIn(await scrape(metricsPort), "moleculer_circuit_breaker_opened_active", { action: "products.get" });

	beforeAll(async () => {
		const namespace = `cb${randomBytes(4).toString("hex")}`;
		metricsPort = await freePort();
		const config = (services: string, metrics = "0") =>
			loadConfig({
				TRANSPORTER: engines!.nats,
				NAMESPACE: namespace,
				SERVICES: services,
				NODE_ID: `${namespace}-${services}`,
				METRICS_PORT: metrics,
				PORT: "0",
				LOG_LEVEL: "fatal",
				API_KEYS: `tester:${TEST_API_KEY}`,
				RATE_LIMIT: "0"
			});
		gateway = new ServiceBroker(createBrokerOptions(config("api", String(metricsPort))));
		gateway.createService(api);
		gateway.localBus.on("$circuit-breaker.opened", (payload: { action: string }) => opened.push(payload.action));
		gateway.localBus.on("$circuit-breaker.closed", (payload: { action: string }) => closed.push(payload.action));
		service = new ServiceBroker(createBrokerOptions(config("products")));
		service.createService(flakyProducts(state));
		await Promise.all([gateway.start(), service.start()]);
		await gateway.waitForServices(["products"]);
		const server = (gateway.getLocalService("api") as unknown as { server: Server }).server;
		baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
		await waitFor(async () => (await request("GET", `/api/v1/products/${randomUUID()}`)).status === 200, 10_000);
	});
	afterAll(async () => {
		await gateway?.stop();
		await service?.stop();
	});

	it("opens when the service hangs, answering 503 with Retry-After at once, and closes when it recovers", async () => {
		state.failing = true;
		const slow = await Promise.all(Array.from({ length: 25 }, () => request("GET", `/api/v1/products/${randomUUID()}`)));
		expect(new Set(slow.map(r => r.status))).toEqual(new Set([504]));
		await waitFor(() => opened.includes("products.get"), 5000);
		// Moleculer's own gauge, on the gateway's metrics port: 1 while the circuit is open.
		expect(await breakerOpen()).toBe(1);

		const callsBefore = state.calls;
		const refused = await request("GET", `/api/v1/products/${randomUUID()}`);
		// Refused by the open circuit at the gateway: the hanging service was never asked.
		expect(state.calls).toBe(callsBefore);
		expect(refused.status).toBe(503);
		expect(refused.headers.get("retry-after")).toBe("5");
		expect(refused.body).toMatchObject({ status: 503, type: "about:blank" });

		state.failing = false;
		// After the half-open wait (5 s) one trial call goes through and closes the circuit.
		await waitFor(async () => (await request("GET", `/api/v1/products/${randomUUID()}`)).status === 200, 15_000);
		await waitFor(() => closed.includes("products.get"), 5000);
		expect(await breakerOpen()).toBe(0);
	});
});
