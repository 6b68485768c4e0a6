/**
 * The business and platform metrics a service owns, in Moleculer's registry so the
 * Prometheus reporter exports them. Registered once per broker (two services of one node
 * may share a family, as the outbox's do); every call is a no-op on a broker with metrics off.
 */
import type { ServiceBroker } from "moleculer";

export interface MetricDefinition {
	name: string;
	type: "counter" | "gauge" | "histogram";
	description: string;
	labelNames?: string[];
	buckets?: number[];
}

type Labels = Record<string, string>;

/** Registers the definitions this broker does not have yet. */
export function registerMetrics(broker: ServiceBroker, definitions: MetricDefinition[]): void {
	if (!broker.isMetricsEnabled()) return;
	for (const definition of definitions)
		// register's overloads take one type each, not their union; every type takes these options.
		if (!broker.metrics.getMetric(definition.name)) broker.metrics.register(definition as MetricDefinition & { type: "histogram" });
}

/** A counter at 0 for these labels: exported from the start, so a first increase shows in `rate()`. */
export function startAtZero(broker: ServiceBroker, name: string, labels: Labels = {}): void {
	countMetric(broker, name, labels, 0);
}

export function countMetric(broker: ServiceBroker, name: string, labels: Labels = {}, value = 1): void {
	if (broker.isMetricsEnabled()) broker.metrics.increment(name, labels, value);
}

export function setMetric(broker: ServiceBroker, name: string, value: number, labels: Labels = {}): void {
	if (broker.isMetricsEnabled()) broker.metrics.set(name, value, labels);
}

export function observeMetric(broker: ServiceBroker, name: string, value: number, labels: Labels = {}): void {
	if (broker.isMetricsEnabled()) broker.metrics.observe(name, value, labels);
}
