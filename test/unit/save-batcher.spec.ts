import { SaveBatcher } from "../../services/audit/audit.batcher";

describe("SaveBatcher", () => {
	it("writes the items added together as one batch and answers each its own result", async () => {
		const batches: number[][] = [];
		const batcher = new SaveBatcher<number, number>(async items => (batches.push(items), items.map(n => n * 10)), 5, 100);
		await expect(Promise.all([1, 2, 3].map(n => batcher.add(n)))).resolves.toEqual([10, 20, 30]);
		expect(batches).toEqual([[1, 2, 3]]);
	});

	it("writes at most `max` items per batch", async () => {
		const batches: number[][] = [];
		const batcher = new SaveBatcher<number, boolean>(async items => (batches.push(items), items.map(() => true)), 5, 2);
		await Promise.all([1, 2, 3, 4, 5].map(n => batcher.add(n)));
		expect(batches).toEqual([[1, 2], [3, 4], [5]]);
	});

	it("fails only the items the write answered with an Error, and every item when the write throws", async () => {
		const some = new SaveBatcher<number, boolean>(async items => items.map(n => (n === 2 ? new Error("refused 2") : true)), 5, 100);
		const answers = await Promise.allSettled([1, 2, 3].map(n => some.add(n)));
		expect(answers.map(a => a.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
		const none = new SaveBatcher<number, boolean>(async () => Promise.reject(new Error("store away")), 5, 100);
		const all = await Promise.allSettled([1, 2].map(n => none.add(n)));
		expect(all).toEqual([
			{ status: "rejected", reason: new Error("store away") },
			{ status: "rejected", reason: new Error("store away") }
		]);
	});

	it("on close writes what is gathered at once and waits for the writes under way", async () => {
		const finishers: (() => void)[] = [];
		const written: number[] = [];
		const batcher = new SaveBatcher<number, boolean>(
			items =>
				new Promise(resolve => {
					finishers.push(() => resolve(items.map(() => true)));
					written.push(...items);
				}),
			60_000,
			2
		);
		const saves = [1, 2, 3].map(n => batcher.add(n));
		let closed = false;
		const closing = batcher.close().then(() => (closed = true));
		expect(written).toEqual([1, 2, 3]);
		await Promise.resolve();
		expect(closed).toBe(false);
		finishers.forEach(finish => finish());
		await closing;
		await expect(Promise.all(saves)).resolves.toEqual([true, true, true]);
	});
});
