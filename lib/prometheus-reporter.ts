/**
 * Moleculer's Prometheus reporter, completed: for a histogram with buckets but no quantiles
 * (the project's are all such) Moleculer writes the buckets only, so Prometheus has no
 * `_sum` and `_count` to take an average or a rate of requests from. This one writes them
 * after each series' `+Inf` bucket, as the text format has them.
 */
import { MetricReporters } from "moleculer";

interface HistogramSeries {
	labels?: Record<string, unknown>;
	sum: number;
	count: number;
}

interface RegisteredMetric {
	name: string;
	type: string;
	quantiles?: unknown;
	snapshot(): HistogramSeries[];
}

export class PrometheusReporter extends MetricReporters.Prometheus {
	override generatePrometheusResponse(): string {
		const totals = new Map<string, string[]>();
		for (const metric of (this.registry.store as unknown as Map<string, RegisteredMetric>).values()) {
			if (metric.type !== "histogram" || metric.quantiles) continue;
			const name = this.formatMetricName(metric.name).replace(/[.-]/g, "_");
			for (const series of metric.snapshot()) {
				const labels = this.labelsToStr(series.labels ?? {});
				totals.set(`${name}_bucket${this.labelsToStr(series.labels ?? {}, { le: "+Inf" })} `, [`${name}_sum${labels} ${series.sum}`, `${name}_count${labels} ${series.count}`]);
			}
		}
		if (totals.size === 0) return super.generatePrometheusResponse();
		return super
			.generatePrometheusResponse()
			.split("\n")
			.flatMap(line => {
				const space = line.lastIndexOf(" ");
				return [line, ...(totals.get(line.slice(0, space + 1)) ?? [])];
			})
			.join("\n");
	}
}
