import { GroupCommit } from "../../lib/group-commit";

/** A write whose batches finish when the test says so. */
function heldWrites<R>(answer: (n: number) => R) {
	const batches: number[][] = [];
	const finishers: (() => void)[] = [];
	const write = (items: number[]) =>
		new Promise<R[]>(resolve => {
			batches.push(items);
			finishers.push(() => resolve(items.map(answer)));
		});
	return { batches, write, finishNext: () => finishers.shift()!() };
}

const tick = () => new Promise(resolve => setImmediate(resolve));

describe("GroupCommit", () => {
	it("writes a lone item at once, then groups the items that came while it was written", async () => {
		const { batches, write, finishNext } = heldWrites(n => n * 10);
		const commits = new GroupCommit(write, { concurrency: 1 });
		const first = commits.add(1);
		expect(batches).toEqual([[1]]);
		const rest = [2, 3, 4].map(n => commits.add(n));
		expect(batches).toEqual([[1]]);
		finishNext();
		await expect(first).resolves.toBe(10);
		await tick();
		expect(batches).toEqual([[1], [2, 3, 4]]);
		finishNext();
		await expect(Promise.all(rest)).resolves.toEqual([20, 30, 40]);
	});

	it("keeps at most `concurrency` batches of at most `max` items under way", async () => {
		const { batches, write, finishNext } = heldWrites(() => true);
		const commits = new GroupCommit(write, { concurrency: 2, max: 2 });
		const all = [1, 2, 3, 4, 5, 6].map(n => commits.add(n));
		expect(batches).toEqual([[1], [2]]);
		finishNext();
		finishNext();
		await tick();
		expect(batches).toEqual([[1], [2], [3, 4], [5, 6]]);
		finishNext();
		finishNext();
		await expect(Promise.all(all)).resolves.toEqual([true, true, true, true, true, true]);
	});

	it("writes a batch that failed again one item at a time, so only the bad item fails", async () => {
		const batches: number[][] = [];
		// As a transaction: any bad item makes the whole batch fail and write nothing.
		const written: number[] = [];
		const write = async (items: number[]) => {
			batches.push(items);
			if (items.includes(3)) throw new Error("3 breaks the batch");
			written.push(...items);
			return items.map(n => n * 10);
		};
		const commits = new GroupCommit(write, { concurrency: 1 });
		const first = commits.add(1);
		const answers = Promise.allSettled([2, 3, 4].map(n => commits.add(n)));
		await first;
		expect((await answers).map(a => (a.status === "fulfilled" ? a.value : (a.reason as Error).message))).toEqual([20, "3 breaks the batch", 40]);
		expect(batches).toEqual([[1], [2, 3, 4], [2], [3], [4]]);
		expect(written).toEqual([1, 2, 4]);
	});

	it("fails every item of a failed batch at once when `retryAlone` says the failure is not the items'", async () => {
		const batches: number[][] = [];
		const write = async (items: number[]) => {
			batches.push(items);
			if (items.length > 1) throw Object.assign(new Error("too slow"), { type: "REQUEST_TIMEOUT" });
			return items;
		};
		const commits = new GroupCommit(write, { concurrency: 1, retryAlone: err => (err as { type?: string }).type !== "REQUEST_TIMEOUT" });
		const first = commits.add(1);
		const answers = Promise.allSettled([2, 3, 4].map(n => commits.add(n)));
		await first;
		expect((await answers).map(a => a.status)).toEqual(["rejected", "rejected", "rejected"]);
		expect(batches).toEqual([[1], [2, 3, 4]]);
	});

	it("fails a batch whose write answers fewer items than it was given", async () => {
		const commits = new GroupCommit<number, number>(async items => items.slice(1), { concurrency: 1 });
		await expect(commits.add(1)).rejects.toThrow("a group commit answered 0 of 1 items");
	});
});
