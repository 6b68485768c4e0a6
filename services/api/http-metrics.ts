/**
 * Every HTTP request the gateway answered, by route (the alias's path, so a product id does
 * not make a series of its own), method and status class, and how long it took. The
 * histogram's buckets are tight around the 200 ms p95 target.
 */
import type { ServerResponse } from "node:http";
import type { ServiceBroker } from "moleculer";
import { countMetric, observeMetric, registerMetrics } from "../../lib/metrics";
import type { Req } from "./gateway";

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5];
/** The route label of a request no alias took (404, 405, or refused before routing). */
const NOT_ROUTED = "(not routed)";

export function registerHttpMetrics(broker: ServiceBroker): void {
	registerMetrics(broker, [
		{ name: "http_requests_total", type: "counter", labelNames: ["route", "method", "status_class"], description: "HTTP requests answered by the gateway" },
		{
			name: "http_request_duration_seconds",
			type: "histogram",
			labelNames: ["route", "method"],
			buckets: DURATION_BUCKETS,
			description: "Time from a request's arrival to the end of its answer in seconds"
		}
	]);
}

/** Counts the request once its answer has gone (or its client left: counted as 4xx, nginx's 499). */
export function measureWhenAnswered(broker: ServiceBroker, req: Req, res: ServerResponse): void {
	if (!broker.isMetricsEnabled()) return;
	const started = process.hrtime.bigint();
	res.once("close", () => {
		const route = req.$alias?.fullPath ?? NOT_ROUTED;
		const method = req.method ?? "";
		const status = res.writableFinished ? res.statusCode : 499;
		countMetric(broker, "http_requests_total", { route, method, status_class: `${Math.floor(status / 100)}xx` });
		observeMetric(broker, "http_request_duration_seconds", Number(process.hrtime.bigint() - started) / 1e9, { route, method });
	});
}
