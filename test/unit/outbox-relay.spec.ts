import { backoffMs } from "../../mixins/outbox-relay";

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
