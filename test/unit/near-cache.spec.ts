import { NearCache } from "../../middlewares/near-cache.middleware";
import { ServiceBroker } from "moleculer";
import { PolicyMemoryCacher } from "../../lib/cache/memory-cacher";
import type { VersionedCacher } from "../../lib/cache/versions";

/** A cacher's version book, as the near cache sees it; `undefined` while the store cannot be read. */
class Versions implements VersionedCacher {
	current: string | undefined = "v1";
	async version() {
		return this.current;
	}
	async bumpVersion() {
		this.current = `${this.current}+`;
	}
	async writeThrough() {
		await this.bumpVersion();
	}
	async retire() {
		await this.bumpVersion();
	}
	getCacheKey(action: unknown, _opts: unknown, ctx: unknown) {
		return `${(action as { name: string }).name}:${(ctx as { params: { id: string } }).params.id}`;
	}
}

const get = { name: "products.get", cache: { keys: ["id"], ttl: 60 }, staleFallback: true };

describe("the near cache", () => {
	let versions: Versions;
	let near: NearCache;
	let fetches: number;
	const fetch = (value: unknown) => async () => {
		fetches++;
		return value;
	};

	beforeEach(() => {
		versions = new Versions();
		near = new NearCache(versions);
		fetches = 0;
	});

	it("answers again from what it kept while the service's version holds, the same answer object", async () => {
		const first = await near.answer(get, { id: "a" }, fetch({ name: "Lamp" }));
		first.json = JSON.stringify(first.value);
		const second = await near.answer(get, { id: "a" }, fetch({ name: "other" }));
		expect(second).toBe(first);
		expect(second.json).toBe('{"name":"Lamp"}');
		expect(fetches).toBe(1);
	});

	it("keeps each key apart", async () => {
		await near.answer(get, { id: "a" }, fetch("A"));
		await expect(near.answer(get, { id: "b" }, fetch("B"))).resolves.toMatchObject({ value: "B" });
		expect(fetches).toBe(2);
	});

	it("asks the service again once a clean moved the version on", async () => {
		await near.answer(get, { id: "a" }, fetch("old"));
		await versions.bumpVersion();
		await expect(near.answer(get, { id: "a" }, fetch("new"))).resolves.toMatchObject({ value: "new" });
		expect(fetches).toBe(2);
	});

	it("keeps nothing while the version cannot be read, and never answers from memory then", async () => {
		versions.current = undefined;
		await near.answer(get, { id: "a" }, fetch("one"));
		await expect(near.answer(get, { id: "a" }, fetch("two"))).resolves.toMatchObject({ value: "two" });
		expect(fetches).toBe(2);
	});

	it("keeps the last answer of a staleFallback action for when the service fails", async () => {
		await near.answer(get, { id: "a" }, fetch("last"));
		await versions.bumpVersion();
		expect(near.staleAnswer("products.get", { id: "a" })).toBe("last");
		expect(near.staleAnswer("products.get", { id: "b" })).toBeUndefined();
	});
});

describe("the Memory cacher's versions", () => {
	it("outdates every service on a clean of everything, as after a reconnect", async () => {
		const broker = new ServiceBroker({ logger: false, cacher: new PolicyMemoryCacher({}) });
		const cacher = broker.cacher as PolicyMemoryCacher;
		const before = await cacher.version("products");
		await cacher.clean("**");
		expect(await cacher.version("products")).not.toBe(before);
		const now = await cacher.version("products");
		await cacher.clean("inventory.**");
		expect(await cacher.version("products")).toBe(now);
	});
});
