import { setImmediate as tick } from "node:timers/promises";
import { backoffMs, deliverInLanes, type Delivery } from "../../lib/outbox-relay";
import { buildEvent, type EventEnvelope } from "../../contracts/events";

const middle = () => 0.5;
const lowest = () => 0;
const highest = () => 0.999999;

describe("backoffMs", () => {
	it.each([
		[0, 500],
		[1, 500],
		[2, 1000],
		[3, 2000],
		[4, 4000],
		[7, 32_000]
	])("waits the base delay after %p attempts when the jitter is neutral", (attempts, ms) => {
		expect(backoffMs(attempts, middle)).toBe(ms);
	});

	it("grows with every attempt until the cap", () => {
		const delays = [1, 2, 3, 4, 5, 6, 7, 8].map(attempts => backoffMs(attempts, middle));
		for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThan(delays[i - 1]);
	});

	it.each([8, 20, 100, 5000])("caps the base delay at 60 s after %p attempts", attempts => {
		expect(backoffMs(attempts, middle)).toBe(60_000);
	});

	it("jitters by at most 25 % either way", () => {
		expect(backoffMs(20, lowest)).toBe(45_000);
		expect(backoffMs(20, highest)).toBeLessThanOrEqual(75_000);
		expect(backoffMs(20, highest)).toBeGreaterThan(74_000);
	});

	it("never waits less than 375 ms", () => {
		for (const attempts of [-1, 0, 1, 2]) expect(backoffMs(attempts, lowest)).toBeGreaterThanOrEqual(375);
		expect(backoffMs(1, lowest)).toBe(375);
	});

	it("uses Math.random by default and stays within the jitter band", () => {
		for (let i = 0; i < 100; i++) {
			const ms = backoffMs(3);
			expect(ms).toBeGreaterThanOrEqual(1500);
			expect(ms).toBeLessThanOrEqual(2500);
		}
	});
});

describe("deliverInLanes", () => {
	const delivery = (aggregateId: string, pending = ["x"], due = true): Delivery => ({
		event: buildEvent("product.deleted", "products", aggregateId, { productId: aggregateId, sku: "SKU" }, { correlationId: "c" }),
		aggregateId,
		pending,
		due
	});
	const gate = () => {
		let open!: () => void;
		const opened = new Promise<void>(resolve => (open = resolve));
		return { opened, open };
	};
	const recorder = () => {
		const calls: [string, string][] = [];
		const publish = async (event: EventEnvelope, destination: string) => {
			calls.push([event.id, destination]);
		};
		return { calls, publish };
	};

	it("delivers another aggregate while a delivery of the first one is still under way", async () => {
		const [a, b] = [delivery("A"), delivery("B")];
		const aHeld = gate();
		const bTaken = gate();
		const pass = deliverInLanes(
			[a, b],
			async event => {
				if (event === a.event) await aHeld.opened;
				else bTaken.open();
			},
			16
		);
		await bTaken.opened;
		aHeld.open();
		await expect(pass).resolves.toEqual([{ remaining: [] }, { remaining: [] }]);
	});

	it("delivers the events of one aggregate to one destination one at a time, in order", async () => {
		const batch = [delivery("A", ["x", "y"]), delivery("B", ["x", "y"]), delivery("A", ["x", "y"]), delivery("A", ["y"]), delivery("B", ["x"])];
		const started: [string, string][] = [];
		const inFlight = new Set<string>();
		const overlaps: string[] = [];
		const results = await deliverInLanes(
			batch,
			async (event, destination) => {
				const lane = `${destination} ${event.aggregateId}`;
				if (inFlight.has(lane)) overlaps.push(lane);
				inFlight.add(lane);
				started.push([event.id, destination]);
				// The first events wait longest, so a lane that did not wait its turn would overtake.
				for (let i = 0; i < 10 - batch.findIndex(d => d.event === event); i++) await tick();
				inFlight.delete(lane);
			},
			16
		);
		expect(overlaps).toEqual([]);
		expect(results.every(r => r.remaining.length === 0)).toBe(true);
		const order = (aggregateId: string, destination: string) =>
			started.filter(([id, d]) => d === destination && batch.find(b => b.event.id === id)!.aggregateId === aggregateId).map(([id]) => id);
		const ids = batch.map(d => d.event.id);
		expect(order("A", "x")).toEqual([ids[0], ids[2]]);
		expect(order("A", "y")).toEqual([ids[0], ids[2], ids[3]]);
		expect(order("B", "x")).toEqual([ids[1], ids[4]]);
		expect(order("B", "y")).toEqual([ids[1]]);
	});

	it("goes on with other lanes after a failure and holds the later events of the failed lane", async () => {
		const batch = [delivery("A", ["x", "y"]), delivery("A", ["x", "y"]), delivery("B", ["x", "y"])];
		const refused = new Error("x is away");
		const { calls, publish } = recorder();
		const results = await deliverInLanes(
			batch,
			async (event, destination) => {
				if (event === batch[0].event && destination === "x") throw refused;
				await publish(event, destination);
			},
			16
		);
		expect(results).toEqual([{ remaining: ["x"], failure: refused }, { remaining: ["x"] }, { remaining: [] }]);
		expect(calls).not.toContainEqual([batch[1].event.id, "x"]);
		expect(calls).toContainEqual([batch[1].event.id, "y"]);
		expect(calls).toContainEqual([batch[2].event.id, "x"]);
	});

	it("keeps an event that fails for several destinations with its first failure and its destinations in order", async () => {
		const failures = [new Error("first"), new Error("second")];
		const [result] = await deliverInLanes(
			[delivery("A", ["x", "y", "z"])],
			async (_event, destination) => {
				if (destination !== "y") throw failures.shift();
			},
			1
		);
		expect(result).toEqual({ remaining: ["x", "z"], failure: expect.objectContaining({ message: "first" }) });
	});

	it("holds the lanes of an event that is not due yet, and only those", async () => {
		const batch = [delivery("A", ["x"], false), delivery("A", ["x", "y"]), delivery("B", ["x"])];
		const { calls, publish } = recorder();
		const results = await deliverInLanes(batch, publish, 16);
		expect(results).toEqual([{ remaining: ["x"] }, { remaining: ["x"] }, { remaining: [] }]);
		expect(calls).toEqual([
			[batch[1].event.id, "y"],
			[batch[2].event.id, "x"]
		]);
	});

	it("runs no more lanes at a time than it is allowed", async () => {
		const batch = Array.from({ length: 40 }, (_, i) => delivery(`P${i}`, ["x", "y"]));
		let inFlight = 0;
		let most = 0;
		const results = await deliverInLanes(
			batch,
			async () => {
				most = Math.max(most, ++inFlight);
				await tick();
				inFlight--;
			},
			16
		);
		expect(most).toBe(16);
		expect(results.every(r => r.remaining.length === 0)).toBe(true);
	});
});
