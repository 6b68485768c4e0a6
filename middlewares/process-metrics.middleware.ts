/**
 * The process figures operators watch, exported in place of Moleculer's built-in process
 * and OS metrics (`collectProcessMetrics` is off in moleculer.config.ts): those also put
 * the host name, the user's name and home directory, every network address and MAC and
 * the process's arguments on the metrics port. These carry nothing about the host, under
 * the names Node.js dashboards expect (prom-client's): CPU time, memory, event loop delay,
 * garbage collection, start time and active resources, refreshed every 5 s and at start.
 */
import { constants, monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from "node:perf_hooks";
import type { Middleware, ServiceBroker } from "moleculer";

const REFRESH_MS = 5_000;

const GC_KINDS: Record<number, string> = {
	[constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
	[constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
	[constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
	[constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb"
};

const GAUGES: [name: string, description: string][] = [
	["process_resident_memory_bytes", "Resident memory size in bytes"],
	["process_start_time_seconds", "Start time of the process since the Unix epoch in seconds"],
	["nodejs_heap_size_total_bytes", "V8 heap size in bytes"],
	["nodejs_heap_size_used_bytes", "V8 heap used in bytes"],
	["nodejs_external_memory_bytes", "Memory of C++ objects bound to JavaScript objects in bytes"],
	["nodejs_eventloop_lag_seconds", "Mean event loop delay over the last 5 s in seconds"],
	["nodejs_eventloop_lag_p99_seconds", "99th percentile of the event loop delay over the last 5 s in seconds"],
	["nodejs_eventloop_lag_max_seconds", "Longest event loop delay over the last 5 s in seconds"],
	["nodejs_active_resources", "Resources (handles, requests, timers) keeping the event loop alive"]
];

const COUNTERS: [name: string, description: string][] = [
	["process_cpu_user_seconds_total", "User CPU time spent in seconds"],
	["process_cpu_system_seconds_total", "System CPU time spent in seconds"],
	["process_cpu_seconds_total", "User and system CPU time spent in seconds"]
];

const GC_DURATION = "nodejs_gc_duration_seconds";

/** Registers the process metrics on a broker with metrics on, and keeps them current while it runs. */
export function ProcessMetricsMiddleware(): Middleware {
	const eventLoop = monitorEventLoopDelay({ resolution: 10 });
	let gc: PerformanceObserver | undefined;
	let timer: NodeJS.Timeout | undefined;

	function refresh(broker: ServiceBroker) {
		const metrics = broker.metrics;
		const cpu = process.cpuUsage();
		const memory = process.memoryUsage();
		metrics.set("process_cpu_user_seconds_total", cpu.user / 1e6);
		metrics.set("process_cpu_system_seconds_total", cpu.system / 1e6);
		metrics.set("process_cpu_seconds_total", (cpu.user + cpu.system) / 1e6);
		metrics.set("process_resident_memory_bytes", memory.rss);
		metrics.set("process_start_time_seconds", Math.round(Date.now() / 1000 - process.uptime()));
		metrics.set("nodejs_heap_size_total_bytes", memory.heapTotal);
		metrics.set("nodejs_heap_size_used_bytes", memory.heapUsed);
		metrics.set("nodejs_external_memory_bytes", memory.external);
		// The histogram is in nanoseconds; at start, before the loop has turned, it has no samples yet.
		const sampled = eventLoop.count > 0;
		metrics.set("nodejs_eventloop_lag_seconds", sampled ? eventLoop.mean / 1e9 : 0);
		metrics.set("nodejs_eventloop_lag_p99_seconds", sampled ? eventLoop.percentile(99) / 1e9 : 0);
		metrics.set("nodejs_eventloop_lag_max_seconds", sampled ? eventLoop.max / 1e9 : 0);
		eventLoop.reset();
		metrics.set("nodejs_active_resources", process.getActiveResourcesInfo().length);
	}

	return {
		name: "ProcessMetrics",
		created(broker: ServiceBroker) {
			if (!broker.isMetricsEnabled()) return;
			for (const [name, description] of GAUGES) broker.metrics.register({ name, type: "gauge", description });
			for (const [name, description] of COUNTERS) broker.metrics.register({ name, type: "counter", description });
			broker.metrics.register({
				name: GC_DURATION,
				type: "histogram",
				labelNames: ["kind"],
				buckets: [0.001, 0.01, 0.1, 1, 2, 5],
				description: "Garbage collection duration by kind in seconds"
			});
		},
		started(broker: ServiceBroker) {
			if (!broker.isMetricsEnabled()) return;
			eventLoop.enable();
			gc = new PerformanceObserver(list => {
				for (const entry of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[])
					broker.metrics.observe(GC_DURATION, entry.duration / 1000, { kind: GC_KINDS[entry.detail?.kind ?? -1] ?? "other" });
			});
			gc.observe({ entryTypes: ["gc"] });
			refresh(broker);
			timer = setInterval(() => refresh(broker), REFRESH_MS);
			timer.unref();
		},
		stopped() {
			clearInterval(timer);
			gc?.disconnect();
			eventLoop.disable();
		}
	} as unknown as Middleware;
}
