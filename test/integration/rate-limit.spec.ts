import { randomBytes } from "node:crypto";
import { ServiceBroker } from "moleculer";
import { describeWith, engineUrl, REDIS_ENV } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import { httpClient } from "../helpers/http";
import { waitFor } from "../helpers/wait";
import { loadConfig } from "../../config/env";
import { createBrokerOptions } from "../../moleculer.config";
import { RedisRateLimitStore } from "../../services/api/rate-limit";

describe("rate limiting per API key", () => {
	const suite = useNode("sqlite", { RATE_LIMIT: "5" });
	const request = httpClient(() => suite.node.baseUrl!);

	it("answers 429 with Retry-After once a key has used its requests of the minute", async () => {
		const statuses: number[] = [];
		for (let i = 0; i < 7; i++) statuses.push((await request("GET", "/api/v1/products")).status);
		expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
		const limited = await request("GET", "/api/v1/products");
		expect(limited.body).toMatchObject({ status: 429, code: "RATE_LIMIT_EXCEEDED" });
		expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
		expect(Number(limited.headers.get("retry-after"))).toBeLessThanOrEqual(60);
	});
});

const redisUrl = engineUrl(REDIS_ENV, "redis://127.0.0.1:6379");

describeWith(redisUrl)("the shared rate-limit count in Redis", () => {
	const brokers: ServiceBroker[] = [];
	afterAll(() => Promise.all(brokers.map(b => b.stop())));

	it("counts the hits of every gateway node against one budget", async () => {
		// Windows are whole minutes of the clock: start in one with time to spare, so no count restarts midway.
		const leftInMinute = 60_000 - (Date.now() % 60_000);
		if (leftInMinute < 5000) await new Promise(resolve => setTimeout(resolve, leftInMinute + 50));
		const namespace = `rl${randomBytes(4).toString("hex")}`;
		const stores = await Promise.all(
			[1, 2].map(async n => {
				const broker = new ServiceBroker(
					createBrokerOptions(loadConfig({ CACHER: redisUrl, NAMESPACE: namespace, NODE_ID: `${namespace}-${n}`, METRICS_PORT: "0", LOG_LEVEL: "fatal" }))
				);
				brokers.push(broker);
				await broker.start();
				return new RedisRateLimitStore(60_000, {}, broker);
			})
		);
		const own = [0, 0];
		const hit = (n: number) => {
			own[n]++;
			return stores[n].inc("key:shop");
		};
		for (let i = 0; i < 10; i++) hit(i % 2);
		// Alone a node would count exactly its own hits; it learns the other's (5 at least) with its next batch.
		// Both hit on every poll: a node sends its hits with the batch its next hit starts.
		await waitFor(() => [0, 1].map(n => hit(n) >= own[n] + 5).every(Boolean), 3000);
	});

	it("keeps counting on the node while Redis cannot be reached", async () => {
		const namespace = `rl${randomBytes(4).toString("hex")}`;
		const broker = new ServiceBroker(createBrokerOptions(loadConfig({ CACHER: redisUrl, NAMESPACE: namespace, NODE_ID: `${namespace}-1`, METRICS_PORT: "0", LOG_LEVEL: "fatal" })));
		brokers.push(broker);
		await broker.start();
		const store = new RedisRateLimitStore(60_000, {}, broker);
		(broker.cacher as unknown as { client: { disconnect(): void } }).client.disconnect();
		for (let i = 0; i < 10; i++) store.inc("key:shop");
		// Several failed batches later the node still knows its own hits.
		await new Promise(resolve => setTimeout(resolve, 200));
		expect(store.inc("key:shop")).toBe(11);
	});
});
