/**
 * What a paced run tells about nodes killed during it: how many requests failed, how long
 * after each kill requests went on failing or crawling, and the tail latency right after.
 *
 * A request is good when it answered the expected status within SLOW_MS. A request that was
 * not good is the doing of the last kill before it went bad (its answer, or SLOW_MS after
 * it was sent, whichever came first): one sent just before a kill and caught by it is that
 * kill's, among its requests in flight. Requests are put in windows of WINDOW_MS by the
 * moment they were sent, counted from the kill; the recovery time of a kill is from the
 * kill to the end of the last window (before the next kill, or the end of the run) that
 * holds a request it made bad: every request sent after that was good, or the next kill's.
 * A kill after which nothing failed recovered in 0 ms.
 */
import { summariseLatency } from "./load";
import type { PacedRun, PacedSample } from "./paced-load";

/** Slower than this counts as failed: a client would have given up or retried. */
export const SLOW_MS = 1000;
export const WINDOW_MS = 100;
/** The tail latency right after a kill is of the requests sent in this long. */
export const AFTER_KILL_MS = 2000;
/** A recovery counts only if this long of good requests followed it before the next kill or the end. */
const CLEAN_TAIL_MS = 1000;

export interface KillFigures {
	node: string;
	/** Milliseconds into the run. */
	at: number;
	/** Requests sent before the kill and not answered yet at it, and how many of them were not good. */
	inFlight: number;
	inFlightBad: number;
	/** Requests sent from the kill to the next kill (or the end of the run), and how many of them it made bad. */
	sent: number;
	bad: number;
	recoveryMs: number;
	/** False when bad requests went on until the span's last second: recoveryMs is then only a lower bound. */
	recovered: boolean;
	/** p99 of the requests sent in the AFTER_KILL_MS after the kill. */
	p99AfterMs: number;
}

export interface FailoverFigures {
	rate: number;
	seconds: number;
	sent: number;
	/** Of all sent, the share answered with the expected status (however slowly). */
	expectedShare: number;
	/** Requests that were not good: another answer, none, or slower than SLOW_MS. */
	bad: number;
	/** Answers by status and problem code ("503 SERVICE_NOT_AVAILABLE"), and requests that got none by reason ("no answer: timeout"). */
	outcomes: Record<string, number>;
	/** Per second of the run: requests sent in it, and how many of them were good. */
	timeline: { sent: number; good: number }[];
	kills: KillFigures[];
}

const round = (ms: number) => Math.round(ms);

const goodness = (expectedStatus: number) => (s: PacedSample) => s.status === expectedStatus && s.latency <= SLOW_MS;

/** When a request that was not good went bad: at its answer (or error), or once it was SLOW_MS late. */
const wentBadAt = (s: PacedSample) => s.sentAt + Math.min(s.latency, SLOW_MS);

function outcomeOf(s: PacedSample): string {
	if (s.status === undefined) return `no answer: ${s.error}`;
	return s.code ? `${s.status} ${s.code}` : String(s.status);
}

/** Each kill's figures; `kills` are the run's actions, in order. */
export function killFigures(run: PacedRun, kills: { label: string; at: number }[], expectedStatus: number): KillFigures[] {
	const isGood = goodness(expectedStatus);
	const runEnd = run.seconds * 1000;
	return kills.map((kill, i) => {
		const next = kills[i + 1];
		const spanEnd = next?.at ?? runEnd;
		const inFlight = run.samples.filter(s => s.sentAt < kill.at && s.sentAt + s.latency > kill.at);
		const span = run.samples.filter(s => s.sentAt >= kill.at && s.sentAt < spanEnd);
		const bad = span.filter(s => !isGood(s) && (next === undefined || wentBadAt(s) <= next.at));
		const lastBadWindow = Math.max(-1, ...bad.map(s => Math.floor((s.sentAt - kill.at) / WINDOW_MS)));
		const recoveryMs = (lastBadWindow + 1) * WINDOW_MS;
		const justAfter = span.filter(s => s.sentAt < kill.at + AFTER_KILL_MS).map(s => s.latency);
		return {
			node: kill.label,
			at: round(kill.at),
			inFlight: inFlight.length,
			inFlightBad: inFlight.filter(s => !isGood(s)).length,
			sent: span.length,
			bad: bad.length,
			recoveryMs,
			recovered: kill.at + recoveryMs <= spanEnd - CLEAN_TAIL_MS,
			p99AfterMs: summariseLatency(justAfter).p99
		};
	});
}

/** The figures of a paced run with kills. */
export function failoverFigures(run: PacedRun, expectedStatus: number, rate: number): FailoverFigures {
	const isGood = goodness(expectedStatus);
	const outcomes: Record<string, number> = {};
	const timeline = Array.from({ length: Math.ceil(run.seconds) }, () => ({ sent: 0, good: 0 }));
	for (const s of run.samples) {
		const outcome = outcomeOf(s);
		outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
		const second = timeline[Math.min(timeline.length - 1, Math.floor(s.sentAt / 1000))];
		second.sent++;
		if (isGood(s)) second.good++;
	}
	const answeredAsExpected = run.samples.filter(s => s.status === expectedStatus).length;
	return {
		rate,
		seconds: run.seconds,
		sent: run.samples.length,
		expectedShare: run.samples.length > 0 ? answeredAsExpected / run.samples.length : 0,
		bad: run.samples.filter(s => !isGood(s)).length,
		outcomes,
		timeline,
		kills: killFigures(run, run.actions, expectedStatus)
	};
}
