/**
 * One autocannon run, in this process, summarised. Latency percentiles come from every
 * response's own time (autocannon's histogram has p97.5 but no p95), all statuses
 * included, as autocannon itself does by default.
 */
import autocannon from "autocannon";

export const CONNECTIONS = 100;

export interface LoadPlan {
	/** Base URL of the server, e.g. http://127.0.0.1:3000 */
	url: string;
	path?: string;
	method?: "GET" | "POST";
	headers?: Record<string, string>;
	body?: string;
	/** Per-request setup (autocannon's `requests`), when every request differs. */
	requests?: autocannon.Request[];
	/** Seconds to run, unless `amount` (responses to wait for) is given. */
	duration?: number;
	amount?: number;
}

export interface LatencySummary {
	p50: number;
	p95: number;
	p99: number;
	mean: number;
	max: number;
}

export interface LoadResult {
	responses: number;
	seconds: number;
	/** Responses per second, any status. */
	rps: number;
	/** Responses per second over the second half of the run, once connections and JIT are warm. */
	lateRps: number;
	latencyMs: LatencySummary;
	statusCodes: Record<string, number>;
	non2xx: number;
	/** Connection errors and timeouts (a timeout is also counted in `timeouts`). */
	errors: number;
	timeouts: number;
}

function percentile(sorted: Float64Array, q: number): number {
	if (sorted.length === 0) return NaN;
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const round2 = (value: number) => Math.round(value * 100) / 100;

/** p50, p95, p99, mean and max of a set of times in milliseconds. */
export function summariseLatency(samples: number[]): LatencySummary {
	const sorted = Float64Array.from(samples).sort();
	const mean = samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length);
	return {
		p50: round2(percentile(sorted, 0.5)),
		p95: round2(percentile(sorted, 0.95)),
		p99: round2(percentile(sorted, 0.99)),
		mean: round2(mean),
		max: round2(sorted.length > 0 ? sorted[sorted.length - 1] : NaN)
	};
}

/** Runs autocannon with 100 connections, pipelining 1, and summarises what it saw. */
export function runLoad(plan: LoadPlan): Promise<LoadResult> {
	return new Promise((resolve, reject) => {
		const latencies: number[] = [];
		const answeredAt: number[] = [];
		const startedAt = performance.now();
		const statusCodes: Record<string, number> = {};
		const instance = autocannon(
			{
				url: plan.url + (plan.path ?? ""),
				method: plan.method ?? "GET",
				headers: plan.headers,
				body: plan.body,
				requests: plan.requests,
				connections: CONNECTIONS,
				pipelining: 1,
				...(plan.amount ? { amount: plan.amount } : { duration: plan.duration ?? 10 })
			},
			(err, result) => {
				if (err) return reject(err instanceof Error ? err : new Error(String(err)));
				// autocannon's own duration ends at its next 1 s tick, which inflates short `amount` runs.
				const seconds = answeredAt.length > 0 ? (answeredAt[answeredAt.length - 1] - startedAt) / 1000 : result.duration;
				const first = answeredAt[0] ?? 0;
				const half = first + ((answeredAt[answeredAt.length - 1] ?? first) - first) / 2;
				const late = answeredAt.filter(t => t >= half);
				const lateSeconds = ((late[late.length - 1] ?? half) - half) / 1000;
				resolve({
					responses: latencies.length,
					seconds: Math.round(seconds * 100) / 100,
					rps: Math.round(latencies.length / seconds),
					lateRps: lateSeconds > 0 ? Math.round(late.length / lateSeconds) : Math.round(latencies.length / seconds),
					latencyMs: summariseLatency(latencies),
					statusCodes,
					non2xx: result.non2xx,
					errors: result.errors,
					timeouts: result.timeouts
				});
			}
		);
		instance.on("response", (_client, statusCode, _bytes, responseTime) => {
			latencies.push(responseTime);
			answeredAt.push(performance.now());
			statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
		});
	});
}
