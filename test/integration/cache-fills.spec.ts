/**
 * A cached answer is never older than the last clean, and a write-through never goes
 * back in versions: with the Memory cacher, and with the Redis cacher against a real Redis.
 */
import { randomUUID } from "node:crypto";
import { ServiceBroker, type Cachers } from "moleculer";
import { PolicyMemoryCacher } from "../../lib/cache/memory-cacher";
import { ResilientRedisCacher } from "../../lib/cache/redis-cacher";
import type { GuardedCacher } from "../../lib/cache/versions";
import { engineUrl, REDIS_ENV } from "../helpers/engines";
import { waitFor } from "../helpers/wait";

type TestCacher = Cachers.Base<object> & GuardedCacher;

const redisUrl = engineUrl(REDIS_ENV, "redis://127.0.0.1:6379");
const cachers: [string, (namespace: string) => TestCacher][] = [["Memory", () => new PolicyMemoryCacher({ clone: false }) as unknown as TestCacher]];
if (redisUrl) cachers.push(["Redis", namespace => new ResilientRedisCacher(redisUrl, `pi-cache-version:${namespace}:`) as unknown as TestCacher]);

describe.each(cachers)("cache fills and write-through with the %s cacher", (_name, createCacher) => {
	let broker: ServiceBroker;
	let cacher: TestCacher;
	/** What the "database" holds, and a gate that holds the read between reading it and answering. */
	let stored: { name: string; version: number };
	let reading: { release: () => void } | undefined;
	let reads = 0;

	beforeEach(async () => {
		const namespace = `fills-${randomUUID().slice(0, 8)}`;
		cacher = createCacher(namespace);
		broker = new ServiceBroker({ namespace, logger: false, cacher: cacher as never });
		stored = { name: "old", version: 1 };
		reads = 0;
		broker.createService({
			name: "catalog",
			actions: {
				get: {
					cache: { keys: ["id"], ttl: 60, lock: { enabled: true } },
					async handler() {
						reads++;
						const read = { ...stored };
						await new Promise<void>(release => (reading = { release }));
						return read;
					}
				}
			}
		});
		await broker.start();
		// Redis is used once its connection is ready.
		await waitFor(async () => (await cacher.version("catalog")) !== undefined);
	});

	afterEach(() => broker.stop());

	const key = "catalog.get:a";

	/** Starts a read of the catalog and waits until it has read the "database". */
	async function startRead() {
		reading = undefined;
		const answer = broker.call("catalog.get", { id: "a" });
		await waitFor(() => reading);
		return { answer, release: reading!.release };
	}

	it("does not keep an answer read before a change whose clean came while it was being read", async () => {
		const slow = await startRead();
		stored = { name: "new", version: 2 };
		await cacher.clean("catalog.**");
		slow.release();
		await expect(slow.answer).resolves.toEqual({ name: "old", version: 1 });

		const next = await startRead();
		next.release();
		await expect(next.answer).resolves.toEqual({ name: "new", version: 2 });
		// That read began after the clean: it is kept, and the next call is a cache hit.
		reading = undefined;
		await expect(broker.call("catalog.get", { id: "a" })).resolves.toEqual({ name: "new", version: 2 });
		expect(reading).toBeUndefined();
	});

	it("does not let a fill that began before a write-through replace it", async () => {
		const seen = (await cacher.version("catalog"))!;
		await cacher.writeThrough(key, { name: "new", version: 2 }, 60);
		await cacher.fill(key, { name: "old", version: 1 }, 60, seen);
		await expect(cacher.get(key)).resolves.toEqual({ name: "new", version: 2 });
	});

	it("replaces a written-through record only with a newer version of it, and outdates the service each time", async () => {
		const before = await cacher.version("catalog");
		await cacher.writeThrough(key, { name: "six", version: 6 }, 60);
		const afterSix = await cacher.version("catalog");
		await cacher.writeThrough(key, { name: "five", version: 5 }, 60);
		await expect(cacher.get(key)).resolves.toEqual({ name: "six", version: 6 });
		expect(new Set([before, afterSix, await cacher.version("catalog")]).size).toBe(3);
		await cacher.writeThrough(key, { name: "seven", version: 7 }, 60);
		await expect(cacher.get(key)).resolves.toEqual({ name: "seven", version: 7 });
	});

	it("does not bring a retired (deleted) record back with a write-through of an earlier change", async () => {
		await cacher.writeThrough(key, { name: "five", version: 5 }, 60);
		await cacher.retire(key, 6, 60);
		await expect(cacher.get(key)).resolves.toBeUndefined();
		await cacher.writeThrough(key, { name: "late five", version: 5 }, 60);
		await cacher.writeThrough(key, { name: "six", version: 6 }, 60);
		await expect(cacher.get(key)).resolves.toBeUndefined();
		// A retirement survives a clean of the service.
		await cacher.clean("catalog.**");
		await cacher.writeThrough(key, { name: "late six", version: 6 }, 60);
		await expect(cacher.get(key)).resolves.toBeUndefined();
		await cacher.writeThrough(key, { name: "seven", version: 7 }, 60);
		await expect(cacher.get(key)).resolves.toEqual({ name: "seven", version: 7 });
	});

	it("writes a fill that no clean interrupted, and none that one did", async () => {
		const seen = (await cacher.version("catalog"))!;
		await cacher.fill(key, { name: "filled", version: 1 }, 60, seen);
		await expect(cacher.get(key)).resolves.toEqual({ name: "filled", version: 1 });
		await cacher.clean("catalog.**");
		await cacher.fill(key, { name: "late", version: 1 }, 60, seen);
		await expect(cacher.get(key)).resolves.toBeUndefined();
	});

	it("keeps the answer of a read queued behind one that a clean outdated", async () => {
		const slow = await startRead();
		stored = { name: "new", version: 2 };
		await cacher.clean("catalog.**");
		// A second read queues on the key's lock, then reads the new record once the slow one is done.
		reading = undefined;
		const fresh = broker.call("catalog.get", { id: "a" });
		slow.release();
		await expect(slow.answer).resolves.toEqual({ name: "old", version: 1 });
		await waitFor(() => reading);
		reading!.release();
		await expect(fresh).resolves.toEqual({ name: "new", version: 2 });
		reading = undefined;
		await expect(broker.call("catalog.get", { id: "a" })).resolves.toEqual({ name: "new", version: 2 });
	});

	it("answers every read queued on the key's lock from the one that filled it, and frees the lock for each", async () => {
		// The first read holds the lock; a burst of reads of the same cold key queues behind it.
		const first = await startRead();
		const burst = Array.from({ length: 20 }, () => broker.call("catalog.get", { id: "a" }));
		first.release();
		// Each queued read finds the fill and must release the lock for the next: one held lock
		// would leave the rest waiting for ever (they did, and the gateway's reads timed out).
		await expect(Promise.all([first.answer, ...burst])).resolves.toEqual(Array(21).fill({ name: "old", version: 1 }));
		expect(reads).toBe(1);
	});
});
