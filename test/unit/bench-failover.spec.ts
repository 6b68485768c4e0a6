import { AFTER_KILL_MS, SLOW_MS, WINDOW_MS, failoverFigures, killFigures } from "../../bench/failover";
import type { PacedRun, PacedSample } from "../../bench/paced-load";

/** A run of `seconds` with one request every 10 ms, answered 201 in 20 ms unless `override` says otherwise. */
function pacedRun(seconds: number, override: (sentAt: number) => Partial<PacedSample> = () => ({})): PacedRun {
	const samples: PacedSample[] = [];
	for (let sentAt = 0; sentAt < seconds * 1000; sentAt += 10) samples.push({ sentAt, latency: 20, status: 201, ...override(sentAt) });
	return { samples, actions: [], seconds };
}

describe("the failover figures of a paced run", () => {
	it("gives a kill after which every request was good a recovery of 0 ms", () => {
		const [kill] = killFigures(pacedRun(10), [{ label: "purchases-1", at: 3000 }], 201);
		expect(kill).toMatchObject({ node: "purchases-1", at: 3000, bad: 0, recoveryMs: 0, recovered: true, inFlight: 1, inFlightBad: 0 });
	});

	it("ends the recovery with the window of the last request that failed", () => {
		const run = pacedRun(10, sentAt => (sentAt >= 3000 && sentAt <= 4230 ? { status: 503, code: "SERVICE_NOT_AVAILABLE" } : {}));
		const [kill] = killFigures(run, [{ label: "purchases-1", at: 3000 }], 201);
		// 4230 ms is in the 13th window after the kill: 4200 to 4300.
		expect(kill).toMatchObject({ bad: 124, recoveryMs: 13 * WINDOW_MS, recovered: true });
	});

	it("counts an answer slower than SLOW_MS as failed, whatever its status", () => {
		const run = pacedRun(10, sentAt => (sentAt === 5000 ? { latency: SLOW_MS + 1 } : {}));
		const [kill] = killFigures(run, [{ label: "inventory-1", at: 3000 }], 201);
		expect(kill).toMatchObject({ bad: 1, recoveryMs: 2000 + WINDOW_MS });
	});

	it("says a kill did not recover when requests failed until the last second before the next kill", () => {
		const run = pacedRun(10, sentAt => (sentAt >= 2000 && sentAt < 5500 ? { error: "timeout", status: undefined, latency: 15_000 } : {}));
		const [first, second] = killFigures(
			run,
			[
				{ label: "purchases-1", at: 2000 },
				{ label: "inventory-1", at: 6000 }
			],
			201
		);
		// Those sent from 5000 ms on went bad (1000 ms late) only after the second kill: its doing.
		expect(first).toMatchObject({ recoveryMs: 3100, recovered: false, sent: 400, bad: 301 });
		expect(second).toMatchObject({ recoveryMs: 0, recovered: true, sent: 400 });
		// The timed-out requests of the first span, and one good one, were still waiting at the second kill.
		expect(second.inFlight).toBe(351);
		expect(second.inFlightBad).toBe(350);
	});

	it("puts a request caught by the next kill on that kill, not on the recovery of the one before", () => {
		// Sent 100 ms before the second kill and answered 1.5 s later; the first kill's failures ended at 3400 ms.
		const run = pacedRun(12, sentAt => (sentAt >= 3000 && sentAt < 3400 ? { status: 503 } : sentAt === 9400 ? { latency: 1500 } : {}));
		const [first, second] = killFigures(
			run,
			[
				{ label: "purchases-1", at: 3000 },
				{ label: "inventory-1", at: 9500 }
			],
			201
		);
		expect(first).toMatchObject({ bad: 40, recoveryMs: 400, recovered: true });
		expect(second).toMatchObject({ inFlight: 2, inFlightBad: 1, bad: 0, recoveryMs: 0 });
	});

	it("takes the p99 after a kill from the requests sent in the AFTER_KILL_MS after it", () => {
		const run = pacedRun(10, sentAt => (sentAt >= 3000 + AFTER_KILL_MS ? { latency: 900 } : {}));
		const [kill] = killFigures(run, [{ label: "purchases-1", at: 3000 }], 201);
		expect(kill.p99AfterMs).toBe(20);
	});

	it("counts the outcomes and the good requests per second sent", () => {
		const run = pacedRun(3, sentAt => (sentAt >= 1000 && sentAt < 1500 ? { status: 503, code: "SERVICE_NOT_AVAILABLE" } : sentAt === 2000 ? { status: undefined, error: "timeout" } : {}));
		run.actions = [{ label: "purchases-1", at: 1000 }];
		const figures = failoverFigures(run, 201, 100);
		expect(figures).toMatchObject({
			sent: 300,
			expectedShare: 249 / 300,
			bad: 51,
			outcomes: { "201": 249, "503 SERVICE_NOT_AVAILABLE": 50, "no answer: timeout": 1 },
			timeline: [
				{ sent: 100, good: 100 },
				{ sent: 100, good: 50 },
				{ sent: 100, good: 99 }
			]
		});
		expect(figures.kills).toHaveLength(1);
	});
});
