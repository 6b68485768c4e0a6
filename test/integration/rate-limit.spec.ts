import { randomBytes } from "node:crypto";
import { ServiceBroker } from "moleculer";
import { describeWith, engineUrl, REDIS_ENV } from "../helpers/engines";
import { SETTLE_MS, useNode } from "../helpers/suite";
import { httpClient } from "../helpers/http";
import { waitFor } from "../helpers/wait";
import { loadConfig } from "../../config/env";
import { createBrokerOptions } from "../../moleculer.config";
import { RedisRateLimitStore } from "../../services/api/rate-limit";

describe("rate limiting per API key", () => {
	const suite = useNode("sqlite", { RATE_LIMIT: "5" });
	const request = httpClient(() => suite.node.baseUrl!);
	/** The gateway's count (moleculer-web's memory store, kept on the route): its window starts with the node, then every minute. */
	const store = () =>
		(suite.node.broker.getLocalService("api") as unknown as { routes: { rateLimit?: { store: { resetTime: number } } }[] }).routes.find(r => r.rateLimit)!
			.rateLimit!.store;

	it("answers 429 with Retry-After once a key has used its requests of the minute", async () => {
		for (let attempt = 1; attempt <= 3; attempt++) {
			// Begin with time to spare in a window, and after a window that ended midway, in a fresh one.
			const window = store().resetTime;
			if (attempt > 1 || window - Date.now() < 30_000) await waitFor(() => store().resetTime !== window, 60_000 + SETTLE_MS);
			const started = store().resetTime;
			const responses = [];
			for (let i = 0; i < 8; i++) responses.push(await request("GET", "/api/v1/products"));
			if (store().resetTime !== started) continue;
			expect(responses.map(r => r.status)).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
			expect(responses[7].body).toMatchObject({ status: 429, code: "RATE_LIMIT_EXCEEDED" });
			expect(Number(responses[7].headers.get("retry-after"))).toBeGreaterThan(0);
			expect(Number(responses[7].headers.get("retry-after"))).toBeLessThanOrEqual(60);
			return;
		}
		throw new Error("a window of the count ended in the middle of every attempt");
	}, 3 * (60_000 + SETTLE_MS));
});

const redisUrl = engineUrl(REDIS_ENV, "redis://127.0.0.1:6379");

describeWith(redisUrl)("the shared rate-limit count in Redis", () => {
	/** The gateway's window: whole minutes of the clock. */
	const WINDOW_MS = 60_000;
	const brokers: ServiceBroker[] = [];
	afterAll(() => Promise.all(brokers.map(b => b.stop())));

	it("counts the hits of every gateway node against one budget", async () => {
		const namespace = `rl${randomBytes(4).toString("hex")}`;
		const stores = await Promise.all(
			[1, 2].map(async n => {
				const broker = new ServiceBroker(
					createBrokerOptions(loadConfig({ CACHER: redisUrl, NAMESPACE: namespace, NODE_ID: `${namespace}-${n}`, METRICS_PORT: "0", LOG_LEVEL: "fatal" }))
				);
				brokers.push(broker);
				await broker.start();
				return new RedisRateLimitStore(WINDOW_MS, {}, broker);
			})
		);
		// A node's own hits in the window its count is in: when one ends midway, every count (this one too) starts again.
		const own = [0, 0];
		const windowOf = [0, 0];
		const hit = (n: number) => {
			const count = stores[n].inc("key:shop");
			if (stores[n].resetTime !== windowOf[n]) [windowOf[n], own[n]] = [stores[n].resetTime, 0];
			own[n]++;
			return count;
		};
		for (let i = 0; i < 10; i++) hit(i % 2);
		// Alone a node would count exactly its own hits; it learns the other's (5 at least) with its next batch.
		// Both hit on every poll: a node sends its hits with the batch its next hit starts.
		await waitFor(() => [0, 1].map(n => hit(n) >= own[n] + 5).every(Boolean), SETTLE_MS);
	});

	it("keeps counting on the node while Redis cannot be reached", async () => {
		const namespace = `rl${randomBytes(4).toString("hex")}`;
		const broker = new ServiceBroker(createBrokerOptions(loadConfig({ CACHER: redisUrl, NAMESPACE: namespace, NODE_ID: `${namespace}-1`, METRICS_PORT: "0", LOG_LEVEL: "fatal" })));
		brokers.push(broker);
		await broker.start();
		const store = new RedisRateLimitStore(WINDOW_MS, {}, broker);
		(broker.cacher as unknown as { client: { disconnect(): void } }).client.disconnect();
		const windowNow = () => Math.floor(Date.now() / WINDOW_MS);
		for (let attempt = 1; attempt <= 3; attempt++) {
			const key = `key:shop-${attempt}`;
			const began = windowNow();
			for (let i = 0; i < 10; i++) store.inc(key);
			// Once the batch of those hits has gone to Redis and failed, the node still knows them.
			await (store as unknown as { flushing: Promise<void> }).flushing;
			const count = store.inc(key);
			// A window that ended midway started the count again: count afresh in the new one.
			if (windowNow() !== began) continue;
			expect(count).toBe(11);
			return;
		}
		throw new Error("a window of the count ended in the middle of every attempt");
	});
});
