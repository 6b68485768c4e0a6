import { MetricTypes, ServiceBroker } from "moleculer";
import { FastHistogram, useFastHistograms } from "../../lib/fast-histogram";

type Registry = ConstructorParameters<typeof MetricTypes.Histogram>[1];

/** Observations like those of request durations: mostly fast, some slow, a few beyond every bucket. */
function observations(count: number): number[] {
	let seed = 7;
	const next = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
	return Array.from({ length: count }, () => {
		const roll = next();
		return roll < 0.8 ? next() * 0.02 : roll < 0.98 ? next() * 2 : 5 + next() * 10;
	});
}

describe("the fast histogram", () => {
	const broker = new ServiceBroker({ logger: false, metrics: { enabled: true, reporter: [] } });
	const registry = broker.metrics as unknown as Registry;
	const options = { name: "t", type: "histogram", labelNames: ["route"], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5], quantiles: [0.5, 0.99], rate: true };

	it("counts every observation into the same buckets, sum, count and quantiles as Moleculer's own", () => {
		const moleculer = new MetricTypes.Histogram(options as never, registry);
		const fast = new FastHistogram(options as never, registry);
		// Values on a bound belong to its bucket.
		for (const [i, value] of [...observations(4996), 0.005, 0.1, 1, 5].entries()) {
			const labels = { route: i % 3 === 0 ? "/a" : "/b" };
			moleculer.observe(value, labels, 1000 + i);
			fast.observe(value, labels, 1000 + i);
		}
		expect(fast.snapshot()).toEqual(moleculer.snapshot());
		expect(fast.snapshot().map(series => series.count)).toEqual([1667, 3333]);
	});

	it("is the histogram every broker registers once installed, Moleculer's request times included", () => {
		useFastHistograms();
		const node = new ServiceBroker({ logger: false, metrics: { enabled: true, reporter: [] } });
		node.metrics.register({ name: "http_request_duration_seconds", type: "histogram", buckets: [0.1] });
		expect(node.metrics.getMetric("http_request_duration_seconds")).toBeInstanceOf(FastHistogram);
		expect(node.metrics.getMetric("moleculer.request.time")).toBeInstanceOf(FastHistogram);
	});
});
