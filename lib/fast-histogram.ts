/**
 * Moleculer's histogram, counting an observation into its buckets by bound names worked out
 * once. Moleculer's own turns every bucket bound (0.005, 0.01, …) into a property name
 * again on every observation: about 6 µs per observation on this machine, more than half
 * of what a bare node:http request costs, paid by every HTTP request's duration and every
 * action call's time. What it counts, and so every snapshot and scrape, is unchanged.
 */
import { MetricTypes } from "moleculer";

interface HistogramItem {
	timestamp: number;
	sum: number;
	count: number;
	lastValue: number;
	bucketValues?: Record<string, number>;
	quantileValues?: { add(value: number): void };
	rate?: { update(count: number): void };
}

export class FastHistogram extends MetricTypes.Histogram {
	/** `buckets` as the property names of an item's `bucketValues`, in the same (ascending) order. */
	private bucketNames?: string[];

	override observe(value: number, labels?: Record<string, unknown>, timestamp?: number): void {
		const item = this.values.get(this.hashingLabels(labels)) as HistogramItem | undefined;
		// A new series is made by Moleculer's own code, which counts its first observation.
		if (!item) return super.observe(value, labels, timestamp);
		item.timestamp = timestamp ?? Date.now();
		item.sum += value;
		item.count++;
		item.lastValue = value;
		if (item.bucketValues) {
			const names = (this.bucketNames ??= this.buckets.map(String));
			// Cumulative, as Prometheus has them: every bucket whose bound is at least the value.
			for (let i = names.length - 1; i >= 0 && value <= this.buckets[i]; i--) item.bucketValues[names[i]] += 1;
		}
		item.quantileValues?.add(value);
		item.rate?.update(item.count);
		this.changed(value, labels, timestamp);
	}
}

/** From now on, every histogram registered in this process (Moleculer's own too) is a FastHistogram. */
export function useFastHistograms(): void {
	// Moleculer finds a type by the first name that matches; replacing "Histogram" replaces its own.
	(MetricTypes.register as unknown as (name: string, type: typeof FastHistogram) => void)("Histogram", FastHistogram);
}
