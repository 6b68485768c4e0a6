import { CoalescedReads } from "../../lib/cache/coalesced-reads";

/** A read of the store the test answers by hand, with the store's value at the moment it was sent. */
interface Sent {
	key: string;
	valueWhenSent: number;
	answer(): void;
	fail(): void;
}

describe("coalesced reads", () => {
	let store: number;
	let sent: Sent[];
	let reads: CoalescedReads<number>;

	beforeEach(() => {
		store = 1;
		sent = [];
		reads = new CoalescedReads(
			key =>
				new Promise<number>((resolve, reject) => {
					const valueWhenSent = store;
					sent.push({ key, valueWhenSent, answer: () => resolve(valueWhenSent), fail: () => reject(new Error("store away")) });
				})
		);
	});

	const flush = () => new Promise(resolve => setImmediate(resolve));

	it("sends one read for the callers that asked while another was in flight", async () => {
		const first = reads.read("products");
		const joined = [reads.read("products"), reads.read("products"), reads.read("products")];
		expect(sent).toHaveLength(1);
		sent[0].answer();
		await expect(first).resolves.toBe(1);
		await flush();
		expect(sent).toHaveLength(2);
		sent[1].answer();
		await expect(Promise.all(joined)).resolves.toEqual([1, 1, 1]);
		expect(sent).toHaveLength(2);
	});

	it("never answers a caller with a read sent before it asked", async () => {
		const early = reads.read("products");
		// The value changes after the first read went out, then a caller asks.
		store = 2;
		const late = reads.read("products");
		sent[0].answer();
		await expect(early).resolves.toBe(1);
		await flush();
		sent[1].answer();
		await expect(late).resolves.toBe(2);
	});

	it("keeps each key apart", async () => {
		void reads.read("products");
		void reads.read("inventory");
		expect(sent.map(s => s.key)).toEqual(["products", "inventory"]);
	});

	it("sends a read at once when none is in flight, also after a failed one", async () => {
		const failing = reads.read("products");
		sent[0].fail();
		await expect(failing).rejects.toThrow("store away");
		await flush();
		const next = reads.read("products");
		expect(sent).toHaveLength(2);
		sent[1].answer();
		await expect(next).resolves.toBe(1);
	});
});
