/**
 * Reads a counter or gauge of a node the way its metrics are exported: the sum over the
 * series whose labels include the given ones (`{ action: "purchases.create" }`), 0 when
 * there is none yet.
 */
import type { ServiceBroker } from "moleculer";
import type { RunningNode } from "../../scripts/cluster-nodes";

type Labels = Record<string, string>;

const hasLabels = (series: Record<string, unknown>, labels: Labels) => Object.entries(labels).every(([label, value]) => series[label] === value);

/** Labels of a Prometheus series (`action="purchases.create",service="purchases"`). */
function parseLabels(text: string): Labels {
	const labels: Labels = {};
	for (const [, label, value] of text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[label] = value.replace(/\\(.)/g, "$1");
	return labels;
}

/**
 * A metric of a node process started with a METRICS_PORT, scraped from its Prometheus
 * endpoint by its exported name (`moleculer_request_active`).
 */
export async function scrapedMetric(node: RunningNode, name: string, labels: Labels = {}): Promise<number> {
	const port = node.spec.env?.METRICS_PORT;
	if (!port || port === "0") throw new Error(`${node.spec.name} was started without a METRICS_PORT`);
	return metricIn(await scrape(Number(port)), name, labels);
}

/** The Prometheus text of the metrics port on 127.0.0.1. */
export async function scrape(port: number): Promise<string> {
	return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** The values of a scraped family's samples (`http_request_duration_seconds_count`) whose labels include the given ones. */
export function samplesIn(text: string, name: string, labels: Labels = {}): number[] {
	const values: number[] = [];
	for (const line of text.split("\n")) {
		const series = /^([\w:]+)(?:\{(.*)\})? (\S+)/.exec(line);
		if (series?.[1] === name && hasLabels(parseLabels(series[2] ?? ""), labels)) values.push(Number(series[3]));
	}
	return values;
}

/** The sum of those samples, 0 when there is none. */
export const metricIn = (text: string, name: string, labels: Labels = {}): number => samplesIn(text, name, labels).reduce((sum, value) => sum + value, 0);

/**
 * A metric of a broker in this process (started with metrics on), from its registry by its
 * registered name (`moleculer.request.bulkhead.inflight`, `near_cache_hits_total`).
 */
export function registryMetric(broker: ServiceBroker, name: string, labels: Labels = {}): number {
	let sum = 0;
	for (const series of broker.metrics.getMetric(name)?.values.values() ?? []) if (hasLabels(series.labels ?? {}, labels)) sum += Number(series.value);
	return sum;
}
