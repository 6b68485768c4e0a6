/**
 * An open-loop load: requests sent at a fixed rate whatever the answers, over several base
 * URLs in turn, each request sent once (never retried) and recorded with the moment it was
 * sent. Unlike autocannon's closed loop, a server that stalls does not slow the sending, so
 * what clients would see while a node dies is what is measured. fetch keeps connections
 * alive and opens more as requests wait.
 */
import { summariseLatency, type LoadResult } from "./load";

export interface PacedRequest {
	method: "GET" | "POST";
	path: string;
	headers: Record<string, string>;
	body?: string;
	/** Told the answer's status, or undefined when none came (network error, timeout). */
	onAnswer?(status: number | undefined): void;
}

/** Something done during the run at a set moment (e.g. killing a node), without pausing the load. */
export interface ScheduledAction {
	label: string;
	atSeconds: number;
	run(): void;
}

export interface PacedPlan {
	/** Request i goes to baseUrls[i % baseUrls.length]. */
	baseUrls: string[];
	/** Requests per second. */
	rate: number;
	seconds: number;
	/** Builds request i right before it is sent. */
	next(index: number): PacedRequest;
	/** A request unanswered after this long is given up (a timeout, no status). */
	timeoutMs: number;
	actions?: ScheduledAction[];
}

/** One request of a paced run; times in milliseconds since the run started. */
export interface PacedSample {
	sentAt: number;
	/** Until the whole answer was read, or until the request failed or was given up. */
	latency: number;
	status?: number;
	/** The `code` of a problem+json answer (e.g. SERVICE_NOT_AVAILABLE). */
	code?: string;
	/** Why no status came: "timeout" or the network error's code. */
	error?: string;
}

export interface PacedRun {
	samples: PacedSample[];
	/** When each scheduled action ran, in milliseconds since the run started. */
	actions: { label: string; at: number }[];
	seconds: number;
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

function failureOf(err: unknown): string {
	const error = err as { name?: string; message?: string; cause?: { code?: string } };
	if (error.name === "TimeoutError") return "timeout";
	return error.cause?.code ?? error.message ?? String(err);
}

function problemCode(body: string): string | undefined {
	try {
		const code = (JSON.parse(body) as { code?: unknown }).code;
		return typeof code === "string" ? code : undefined;
	} catch {
		return undefined;
	}
}

/** Sends `rate * seconds` requests on schedule, runs the actions on theirs, and waits for every answer. */
export async function runPacedLoad(plan: PacedPlan): Promise<PacedRun> {
	const total = Math.round(plan.rate * plan.seconds);
	const pending = [...(plan.actions ?? [])].sort((a, b) => a.atSeconds - b.atSeconds);
	const samples: PacedSample[] = [];
	const actions: PacedRun["actions"] = [];
	const inFlight: Promise<void>[] = [];
	const startedAt = performance.now();
	const now = () => performance.now() - startedAt;

	const send = async (index: number): Promise<void> => {
		const request = plan.next(index);
		const sample: PacedSample = { sentAt: now(), latency: 0 };
		samples.push(sample);
		try {
			const res = await fetch(plan.baseUrls[index % plan.baseUrls.length] + request.path, {
				method: request.method,
				headers: request.headers,
				body: request.body,
				signal: AbortSignal.timeout(plan.timeoutMs)
			});
			const text = await res.text();
			sample.status = res.status;
			if (res.status >= 400) sample.code = problemCode(text);
		} catch (err) {
			sample.error = failureOf(err);
		}
		sample.latency = now() - sample.sentAt;
		request.onAnswer?.(sample.status);
	};

	for (let sent = 0; sent < total || pending.length > 0; ) {
		const dueRequest = sent < total ? (sent * 1000) / plan.rate : Infinity;
		const dueAction = pending.length > 0 ? pending[0].atSeconds * 1000 : Infinity;
		const wait = Math.min(dueRequest, dueAction) - now();
		if (wait > 0) await sleep(wait);
		while (pending.length > 0 && pending[0].atSeconds * 1000 <= now()) {
			const action = pending.shift()!;
			actions.push({ label: action.label, at: now() });
			action.run();
		}
		// Requests that fell due while the loop slept are sent at once: the rate holds on average.
		while (sent < total && (sent * 1000) / plan.rate <= now()) inFlight.push(send(sent++));
	}
	await Promise.all(inFlight);
	return { samples, actions, seconds: plan.seconds };
}

/** A paced run in the shape of an autocannon run's summary, so the results table reads them alike; every request's time counts, failures included. */
export function pacedSummary(run: PacedRun): LoadResult {
	const answered = run.samples.filter(s => s.status !== undefined);
	const statusCodes: Record<string, number> = {};
	for (const s of answered) statusCodes[s.status!] = (statusCodes[s.status!] ?? 0) + 1;
	const late = answered.filter(s => s.sentAt >= (run.seconds * 1000) / 2);
	return {
		responses: answered.length,
		seconds: run.seconds,
		rps: Math.round(answered.length / run.seconds),
		lateRps: Math.round(late.length / (run.seconds / 2)),
		latencyMs: summariseLatency(run.samples.map(s => s.latency)),
		statusCodes,
		non2xx: answered.filter(s => s.status! < 200 || s.status! >= 300).length,
		errors: run.samples.length - answered.length,
		timeouts: run.samples.filter(s => s.error === "timeout").length
	};
}
