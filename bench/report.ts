/**
 * The bench's results: one typed record per scenario, rendered as a Markdown table and
 * written with the raw figures to bench/results/latest.{md,json} (overwritten each run).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AFTER_KILL_MS, SLOW_MS, WINDOW_MS, type FailoverFigures } from "./failover";
import type { CacheStats } from "./metrics";
import type { LoadResult } from "./load";
import type { CpuReport } from "./processes";
import type { DatabaseActivity, MixCounts, StockCheck } from "./scenarios";
import type { KernelLimits, ListenQueueCounters } from "./connections";

export type ScenarioId = "bare" | "a" | "b" | "c" | "d-split" | "d-one" | "d-cluster" | "k-steady" | "k-kill" | "u-paced" | "u-closed" | "bare-end";

export interface TargetCheck {
	text: string;
	pass: boolean;
	/** The figures that decided it. */
	detail: string;
}

export interface LogFindings {
	warnings: number;
	errors: number;
	examples: string[];
}

export interface ScenarioResult {
	id: ScenarioId;
	title: string;
	setup: string;
	warmup?: LoadResult;
	load?: LoadResult;
	/** Requests per second, or for (d) purchases (201 Created) per second. */
	throughput?: number;
	unit: "req/s" | "purchases/s";
	/** Throughput over the bare node:http baseline's. */
	vsBare?: number;
	cache?: CacheStats;
	cpu?: CpuReport;
	stock?: StockCheck;
	/** PostgreSQL work per 201 over the measured run (approximate: the counters lag by up to a second). */
	databasePerPurchase?: DatabaseActivity;
	mix?: MixCounts;
	/** (k): what the kills cost. */
	failover?: FailoverFigures;
	/** (k): purchase rows per reservation state when the stock was checked. */
	purchaseStates?: Record<string, number>;
	/** (u): the connections held, what they cost and the limits that applied. */
	users?: UsersFigures;
	/** Bytes of one product answer, to compare with the baseline's body. */
	bodyBytes?: number;
	target?: TargetCheck;
	/** The (d) topology whose figures are judged against the target. */
	chosen?: boolean;
	notes: string[];
	/** Set when the scenario could not run to the end (the bench then exits 1). */
	error?: string;
}

/** One gateway of (u): connections held on its port and its resident memory. */
export interface GatewayHold {
	name: string;
	port: number;
	/** ESTABLISHED sockets on its port while the connections were held idle, and the fewest seen under load. */
	heldIdle: number;
	heldMinUnderLoad: number;
	/** VmRSS in KB before the connections opened, while held idle, and the most seen under load. */
	rssBeforeKb: number;
	rssIdleKb: number;
	rssLoadedKb: number;
	kbPerConnectionIdle?: number;
	kbPerConnectionLoaded?: number;
	openFilesLimit?: number;
	listenBacklog?: number;
}

export interface UsersFigures {
	connections: number;
	/** Think time between answer and next request; absent in the closed loop. */
	thinkMs?: { min: number; max: number };
	/** Requests a second the users ask for: connections ÷ mean think time. */
	askedRps?: number;
	/** Requests a second the gateways answered (http_requests_total) over the CPU window. */
	gatewayRps?: number;
	/** CPU of the product's processes (nodes, PostgreSQL, Redis, NATS) per request over that window, in ms. */
	cpuMsPerRequest?: number;
	gateways: GatewayHold[];
	socketErrors: { connect: number; read: number; write: number; timeout: number };
	purchases?: { sent: number; created: number };
	generator: { cpuPercent: number; rssKb?: number; openFilesLimit?: number; threads: number };
	serverTimeouts: { keepAliveTimeoutMs: number; headersTimeoutMs: number; requestTimeoutMs: number };
	kernel: KernelLimits;
	/** Machine-wide listen-queue counters over the run (other users' connections count too). */
	listenQueue: ListenQueueCounters;
	/** Closed loop only: connections ÷ throughput against the mean latency measured. */
	littlesLaw?: { predictedMs: number; measuredMeanMs: number; ratio: number };
}

export interface BenchReport {
	date: string;
	node: string;
	cores: number;
	cpuModel: string;
	loadAverageAtStart: number[];
	runSeconds: number;
	settings: { connections: number; pipelining: number; warmupSeconds: number; durationSeconds: number; zipfS: number };
	scenarios: ScenarioResult[];
	/** What each node logged at warn level or above once it was ready, until it was stopped. */
	nodeLogs: Record<string, LogFindings>;
	notes: string[];
	cleanupProblems: string[];
}

const RESULTS_DIR = join(__dirname, "results");

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const fixed = (n: number | undefined | null, digits: number) => (n === undefined || n === null || Number.isNaN(n) ? "–" : n.toFixed(digits));
const percent = (ratio: number | null | undefined) => (ratio === null || ratio === undefined ? "–" : `${(ratio * 100).toFixed(1)} %`);
const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

function resultCell(s: ScenarioResult): string {
	if (s.error) return "**ERROR**";
	if (!s.target) return "";
	return `${s.target.pass ? "PASS" : "**FAIL**"}${s.chosen === false ? " (not chosen)" : ""}`;
}

function mainTable(scenarios: ScenarioResult[]): string[] {
	const lines = [
		"| Scenario | Setup | Throughput | × bare | p50 ms | p95 ms | p99 ms | non-2xx | errors | Cache hit | Target | Result |",
		"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
	];
	for (const s of scenarios) {
		const load = s.load;
		lines.push(
			"| " +
				[
					s.title,
					s.setup,
					s.throughput === undefined ? "–" : `${int(s.throughput)} ${s.unit}`,
					fixed(s.vsBare, 2),
					fixed(load?.latencyMs.p50, 2),
					fixed(load?.latencyMs.p95, 2),
					fixed(load?.latencyMs.p99, 2),
					load ? int(load.non2xx) : "–",
					load ? int(load.errors) : "–",
					percent(s.cache?.hitRatio),
					s.target?.text ?? "",
					resultCell(s)
				]
					.map(cell)
					.join(" | ") +
				" |"
		);
	}
	return lines;
}

function cpuTable(scenarios: ScenarioResult[]): string[] {
	const lines = [
		"| Scenario | load generator | bench nodes | postgres | redis | nats | machine busy |",
		"|---|---:|---|---:|---:|---:|---:|"
	];
	for (const s of scenarios) {
		if (!s.cpu) continue;
		const nodes = Object.entries(s.cpu.nodes)
			.map(([name, value]) => `${name} ${value} %`)
			.join(", ");
		const e = s.cpu.engines;
		lines.push(
			`| ${s.title} | ${s.cpu.loadGenerator} % (${s.cpu.generator ?? "autocannon"}) | ${nodes} | ${e.postgres ?? 0} % | ${e["redis-server"] ?? 0} % | ${e["nats-server"] ?? 0} % | ${s.cpu.machineBusy} % |`
		);
	}
	return lines;
}

function stockTable(scenarios: ScenarioResult[]): string[] {
	const rows = scenarios.filter(s => s.stock);
	if (rows.length === 0) return [];
	const lines = [
		"| Scenario | purchases/s | 201s (warm-up included) | Σ reserved | oversold | reserved ≠ 201s | unanswered | DB agrees with API | other answers | per purchase: commits / rows ins, upd, del |",
		"|---|---:|---:|---:|---:|---:|---:|---|---|---|"
	];
	for (const s of rows) {
		const c = s.stock!;
		const other = Object.entries(s.load?.statusCodes ?? {})
			.filter(([code]) => code !== "201")
			.map(([code, n]) => `${code}: ${n}`)
			.join(", ");
		const db = s.databasePerPurchase;
		const work = db ? `${fixed(db.commits, 1)} / ${fixed(db.inserted, 1)}, ${fixed(db.updated, 1)}, ${fixed(db.deleted, 1)}` : "–";
		lines.push(
			`| ${s.title} | ${int(s.throughput ?? 0)} | ${int(c.created)} | ${int(c.reserved)} | ${c.oversold} | ${c.mismatched.length} | ${c.unanswered} | ${c.databaseAgrees === null ? "not read" : c.databaseAgrees ? "yes" : "**no**"} | ${other || "none"} | ${work} |`
		);
	}
	return lines;
}

function failoverTables(scenarios: ScenarioResult[]): string[] {
	const rows = scenarios.filter(s => s.failover);
	if (rows.length === 0) return [];
	const lines = [
		[
			"Open loop: purchases sent at a fixed rate by `fetch` in the bench process (keep-alive), alternately to each gateway, each with its own `Idempotency-Key` and never sent again; every request's time counts, failures included.",
			`A request is *good* when it answered 201 within ${SLOW_MS} ms.`,
			`A request that was not good is the doing of the last kill before it went bad (at its answer, or once it was ${SLOW_MS} ms late): one sent just before a kill and caught by it is that kill's, among its requests in flight. The **recovery time** of a kill runs from the kill to the end of the last ${WINDOW_MS} ms window holding a request it made bad, requests being grouped by the moment they were sent, counted from the kill, until the next kill or the end of the run: every request sent after it was good; 0 when none failed; "> x s" when requests still failed in the last second before the next kill or the end, so the recovery took longer.`,
			`*In flight* are the requests sent before the kill and unanswered at it; "p99 after" is of the requests sent in the ${AFTER_KILL_MS / 1000} s after the kill. The oversell check above ran right after the last answer.`
		].join(" "),
		"",
		"| Scenario | rate | sent | answered 201 | not good | outcomes | p50 ms | p99 ms | good / sent, per second sent |",
		"|---|---:|---:|---:|---:|---|---:|---:|---|"
	];
	for (const s of rows) {
		const f = s.failover!;
		const outcomes = Object.entries(f.outcomes)
			.sort(([, a], [, b]) => b - a)
			.map(([outcome, n]) => `${outcome}: ${n}`)
			.join(", ");
		const timeline = f.timeline.map(t => `${t.good}/${t.sent}`).join(" ");
		lines.push(
			`| ${s.title} | ${f.rate}/s for ${f.seconds} s | ${int(f.sent)} | ${percent(f.expectedShare)} | ${int(f.bad)} | ${outcomes} | ${fixed(s.load?.latencyMs.p50, 1)} | ${fixed(s.load?.latencyMs.p99, 1)} | ${timeline} |`
		);
	}
	lines.push("", "| Kill | at | in flight (not good) | sent until the next kill or the end | not good | recovery | p99 after, ms |", "|---|---:|---:|---:|---:|---:|---:|");
	for (const s of rows)
		for (const k of s.failover!.kills)
			lines.push(
				`| SIGKILL ${k.node} | ${fixed(k.at / 1000, 1)} s | ${k.inFlight} (${k.inFlightBad}) | ${k.sent} | ${k.bad} | ${k.recovered ? "" : "> "}${fixed(k.recoveryMs / 1000, 1)} s | ${fixed(k.p99AfterMs, 1)} |`
			);
	return lines;
}

const mb = (kb: number) => fixed(kb / 1024, 0);

function usersTables(scenarios: ScenarioResult[]): string[] {
	const rows = scenarios.filter(s => s.users);
	if (rows.length === 0) return [];
	const lines = [
		"One wrk process (Lua `delay()` for the think time, `response()` counting the 201s per product), a thread per gateway, every connection opened at the start and held idle until all are open, then each sends a request, waits for its answer, thinks (paced) or not (closed loop), and sends the next. Latencies are wrk's, over the whole sending time; gateway req/s and CPU per request over a window inside it. Held = ESTABLISHED sockets on the gateway's port (`ss`), idle just before the first request and the fewest of a sample a second under load; KB per connection = (RSS held − RSS before the connections) ÷ held.",
		"",
		"| Scenario | connections held (idle / fewest under load) | asked req/s | req/s (wrk / gateways) | p50 / p95 / p99 ms | socket errors connect, read, write, timeout | non-2xx | purchases 201 / sent | CPU ms per request | wrk CPU |",
		"|---|---:|---:|---:|---:|---|---:|---:|---:|---:|"
	];
	for (const s of rows) {
		const u = s.users!;
		const idle = u.gateways.reduce((n, g) => n + g.heldIdle, 0);
		const loaded = u.gateways.reduce((n, g) => n + g.heldMinUnderLoad, 0);
		const e = u.socketErrors;
		const l = s.load;
		lines.push(
			`| ${s.title} | ${int(idle)} / ${int(loaded)} of ${int(u.connections)} | ${u.askedRps === undefined ? "– (closed loop)" : int(u.askedRps)} | ${l ? int(l.rps) : "–"} / ${u.gatewayRps === undefined ? "–" : int(u.gatewayRps)} | ${l ? `${fixed(l.latencyMs.p50, 1)} / ${fixed(l.latencyMs.p95, 1)} / ${fixed(l.latencyMs.p99, 1)}` : "–"} | ${e.connect}, ${e.read}, ${e.write}, ${e.timeout} | ${l ? int(l.non2xx) : "–"} | ${u.purchases ? `${int(u.purchases.created)} / ${int(u.purchases.sent)}` : "–"} | ${fixed(u.cpuMsPerRequest, 3)} | ${u.generator.cpuPercent} % |`
		);
	}
	lines.push(
		"",
		"| Scenario | gateway | held idle | fewest under load | RSS before, MB | held idle, MB | under load (most), MB | KB per connection idle / under load | open files (soft) | listen backlog |",
		"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	);
	for (const s of rows)
		for (const g of s.users!.gateways)
			lines.push(
				`| ${s.title} | ${g.name} :${g.port} | ${int(g.heldIdle)} | ${int(g.heldMinUnderLoad)} | ${mb(g.rssBeforeKb)} | ${mb(g.rssIdleKb)} | ${mb(g.rssLoadedKb)} | ${fixed(g.kbPerConnectionIdle, 1)} / ${fixed(g.kbPerConnectionLoaded, 1)} | ${g.openFilesLimit ?? "–"} | ${g.listenBacklog ?? "–"} |`
			);
	const u = rows[0].users!;
	const t = u.serverTimeouts;
	const k = u.kernel;
	lines.push(
		"",
		`Limits: the gateways' server keepAliveTimeout ${t.keepAliveTimeoutMs} ms (longer than the longest think time), headersTimeout ${t.headersTimeoutMs} ms, requestTimeout ${t.requestTimeoutMs} ms; wrk's open files ${u.generator.openFilesLimit ?? "–"} (${u.generator.threads} threads); kernel (read, not changed): somaxconn ${k.somaxconn ?? "–"}, tcp_max_syn_backlog ${k.tcpMaxSynBacklog ?? "–"}, ip_local_port_range ${k.localPortRange ?? "–"}, file-max ${k.fileMax ?? "–"}.`
	);
	for (const s of rows) {
		const q = s.users!.listenQueue;
		const little = s.users!.littlesLaw;
		lines.push(
			"",
			`${s.title}: listen-queue overflows ${q.overflows}, drops ${q.drops} over the run (machine-wide); wrk's RSS ${s.users!.generator.rssKb === undefined ? "–" : `${mb(s.users!.generator.rssKb)} MB`}.` +
				(little ? ` Little's law: ${int(s.users!.connections)} connections ÷ ${int(s.load?.rps ?? 0)} req/s = ${little.predictedMs} ms, measured mean ${little.measuredMeanMs} ms (ratio ${little.ratio}).` : "")
		);
	}
	return lines;
}

/** The Markdown report: header, the results table, CPU, the oversell check, notes. */
export function renderMarkdown(report: BenchReport): string {
	const { settings } = report;
	const lines = [
		"# Benchmark: product-inventory",
		"",
		`${report.date} · Node ${report.node} · ${report.cores} cores (${report.cpuModel}) · load average at start ${report.loadAverageAtStart.map(n => n.toFixed(2)).join(" / ")} · run took ${Math.round(report.runSeconds)} s`,
		"",
		`${settings.connections} connections, ${settings.warmupSeconds} s warm-up then ${settings.durationSeconds} s measured per scenario${report.scenarios.some(s => s.failover) ? " ((k) is paced instead, see its section)" : ""}. Load generators: ${report.scenarios.some(s => s.cpu?.generator === "wrk") ? "wrk (one thread, its own process) for the GETs, " : ""}autocannon in the bench process (pipelining ${settings.pipelining}) for ${report.scenarios.some(s => s.cpu?.generator === "wrk") ? "the purchases" : "every scenario"}; the CPU table shows what each used of a core. Every server is its own child process. Latencies cover every response. "× bare" compares with the bare \`node:http\` server measured first in the same run.`,
		"",
		...mainTable(report.scenarios),
		"",
		"## CPU during each measured window",
		"",
		"Percent of one core (the machine has " + report.cores + " cores). Engines are machine-wide: other users' load is included.",
		"",
		...cpuTable(report.scenarios),
		""
	];
	const stock = stockTable(report.scenarios);
	if (stock.length > 0) lines.push("## Purchases: oversell check", "", ...stock, "");
	const failover = failoverTables(report.scenarios);
	if (failover.length > 0) lines.push("## Purchases under a node kill", "", ...failover, "");
	const users = usersTables(report.scenarios);
	if (users.length > 0) lines.push("## Concurrent users", "", ...users, "");
	const notes = [...report.notes, ...report.scenarios.flatMap(s => s.notes.map(n => `${s.title}: ${n}`))];
	for (const s of report.scenarios) if (s.error) notes.push(`${s.title}: **did not complete**: ${s.error.split("\n")[0]}`);
	for (const [node, found] of Object.entries(report.nodeLogs))
		if (found.errors + found.warnings > 0)
			notes.push(`node ${node} logged ${found.errors} errors and ${found.warnings} warnings once ready, e.g. \`${found.examples[0] ?? ""}\``);
	if (report.cleanupProblems.length > 0) notes.push(...report.cleanupProblems.map(p => `cleanup: ${p}`));
	if (notes.length > 0) lines.push("## Notes", "", ...notes.map(n => `- ${n}`), "");
	return lines.join("\n");
}

/** Writes latest.md and latest.json, replacing the previous run's. */
export function writeResults(report: BenchReport, markdown: string): { markdown: string; json: string } {
	mkdirSync(RESULTS_DIR, { recursive: true });
	const paths = { markdown: join(RESULTS_DIR, "latest.md"), json: join(RESULTS_DIR, "latest.json") };
	writeFileSync(paths.markdown, markdown);
	writeFileSync(paths.json, JSON.stringify(report, null, "\t") + "\n");
	return paths;
}
