import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { ServiceBroker } from "moleculer";
import { describeWith, engineUrl, REDIS_ENV } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import { httpClient, type HttpResponse } from "../helpers/http";
import { TEST_API_KEY } from "../helpers/nodes";
import { waitFor } from "../helpers/wait";
import { loadConfig } from "../../config/env";
import { createBrokerOptions } from "../../moleculer.config";
import { RedisRateLimitStore } from "../../services/api/rate-limit";

/**
 * Runs `attempt` up to three times, again whenever the count's window (as `windowOf` tells)
 * changed while it ran: the count started afresh midway, so its answers prove nothing.
 * Each attempt counts under a key of its own (the window that changed may hold some of
 * the last one's hits), and returns the assertions to make once the window is known to have held.
 */
async function inOneWindow(windowOf: () => number, attempt: (n: number) => Promise<() => void>): Promise<void> {
	for (let n = 1; n <= 3; n++) {
		const began = windowOf();
		const check = await attempt(n);
		if (windowOf() === began) return check();
	}
	throw new Error("a window of the count ended in the middle of every attempt");
}

describe("rate limiting per API key", () => {
	// A key per attempt of inOneWindow.
	const keys = [1, 2, 3].map(n => `${TEST_API_KEY}-${n}`);
	const suite = useNode("sqlite", { RATE_LIMIT: "5", API_KEYS: keys.map((key, i) => `tester${i + 1}:${key}`).join(",") });
	const request = httpClient(() => suite.node.baseUrl!);
	/** The gateway's count (moleculer-web's memory store, kept on the route): its window starts with the node, then every minute. */
	const store = () =>
		(suite.node.broker.getLocalService("api") as unknown as { routes: { rateLimit?: { store: { resetTime: number } } }[] }).routes.find(r => r.rateLimit)!
			.rateLimit!.store;

	it("answers 429 with Retry-After once a key has used its requests of the minute", async () => {
		await inOneWindow(
			() => store().resetTime,
			async n => {
				const responses: HttpResponse[] = [];
				for (let i = 0; i < 8; i++) responses.push(await request("GET", "/api/v1/products", { apiKey: keys[n - 1] }));
				return () => {
					expect(responses.map(r => r.status)).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
					expect(responses[7].body).toMatchObject({ status: 429, code: "RATE_LIMIT_EXCEEDED" });
					expect(Number(responses[7].headers.get("retry-after"))).toBeGreaterThan(0);
					expect(Number(responses[7].headers.get("retry-after"))).toBeLessThanOrEqual(60);
				};
			}
		);
	});
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
		await waitFor(() => [0, 1].map(n => hit(n) >= own[n] + 5).every(Boolean));
	});

	it("keeps counting on the node the hits of a batch that failed while Redis could not be reached", async () => {
		const namespace = `rl${randomBytes(4).toString("hex")}`;
		const broker = new ServiceBroker(createBrokerOptions(loadConfig({ CACHER: redisUrl, NAMESPACE: namespace, NODE_ID: `${namespace}-1`, METRICS_PORT: "0", LOG_LEVEL: "fatal" })));
		brokers.push(broker);
		await broker.start();
		const store = new RedisRateLimitStore(WINDOW_MS, {}, broker);
		/** Waits for the store's batch under way, which the hits just made must have started. */
		const batchSent = async () => {
			const sending = (store as unknown as { flushing?: Promise<void> }).flushing;
			expect(sending).toBeInstanceOf(Promise);
			await sending;
		};
		// Read by a client of the test's own: what the store's batches left in Redis.
		const probe = new Redis(redisUrl!, { lazyConnect: true });
		await probe.connect();
		const windowNow = () => Math.floor(Date.now() / WINDOW_MS);
		const stored = (window: number, key: string) => probe.get(`pi-ratelimit:${namespace}:${window}:${key}`);
		try {
			// While Redis is there, a batch lands under the name the test reads.
			await inOneWindow(windowNow, async n => {
				const window = windowNow();
				store.inc(`key:reachable-${n}`);
				await batchSent();
				const held = await stored(window, `key:reachable-${n}`);
				return () => expect(held).toBe("1");
			});

			const client = (broker.cacher as unknown as { client: Redis }).client;
			client.disconnect();
			await waitFor(() => client.status === "end");
			await inOneWindow(windowNow, async n => {
				const window = windowNow();
				const key = `key:shop-${n}`;
				for (let i = 0; i < 10; i++) store.inc(key);
				await batchSent();
				// The batch of those hits failed: Redis has none of them, and the node still knows them all.
				const count = store.inc(key);
				const held = await stored(window, key);
				return () => {
					expect(held).toBeNull();
					expect(count).toBe(11);
				};
			});
		} finally {
			await probe.quit();
		}
	});
});
