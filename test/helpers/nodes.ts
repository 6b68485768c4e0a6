/** Starts brokers the way server.ts does, from an environment, for tests. */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import { loadConfig } from "../../config/env";
import { createNode } from "../../server";

export const TEST_API_KEY = "test-key-0123456789";

export interface TestNode {
	broker: ServiceBroker;
	/** Base URL of the gateway when the node runs `api`. */
	baseUrl?: string;
	stop(): Promise<void>;
}

/** Starts a node from `env` (plus test defaults), with `extraServices` such as event listeners. */
export async function startNode(env: Record<string, string>, extraServices: ServiceSchema[] = []): Promise<TestNode> {
	const config = loadConfig({
		NODE_ENV: "test",
		LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
		METRICS_PORT: "0",
		PORT: "0",
		API_KEYS: `tester:${TEST_API_KEY}`,
		...env
	});
	const broker = createNode(config);
	for (const schema of extraServices) broker.createService(schema);
	await broker.start();
	let baseUrl: string | undefined;
	if (config.services.includes("api")) {
		const server = (broker.getLocalService("api") as unknown as { server: Server }).server;
		baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	}
	return { broker, baseUrl, stop: () => broker.stop() };
}
