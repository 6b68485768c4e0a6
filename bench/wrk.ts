/**
 * One wrk run (the Debian package), summarised like an autocannon run (bench/load.ts). wrk
 * is C on its own threads: at the tens of thousands of requests per second of the cached
 * reads, autocannon in the bench's own event loop would be the limit, not the server. wrk
 * reports what it used of a core, so the table shows it had room to spare.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LoadResult } from "./load";
import { TICKS_PER_SECOND, processTicks } from "./processes";

export interface WrkPlan {
	url: string;
	path?: string;
	/** Paths sent in turn, each connection from its own place in the list, for a mix of requests. */
	paths?: string[];
	headers?: Record<string, string>;
	duration: number;
	connections: number;
	threads?: number;
}

export interface WrkResult extends LoadResult {
	/** Percent of one core wrk used over the run. */
	generatorCpu: number;
}

/**
 * Lua that writes wrk's summary as one JSON line (`WRK_JSON {...}`): every script's done()
 * calls `write_summary`.
 */
export const SUMMARY_LUA = String.raw`
function write_summary(summary, latency)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p95":%d,"p99":%d,"mean":%.1f,"max":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean, latency.max))
end
`;

/** The Lua that feeds the paths and prints the summary. */
const SCRIPT =
	SUMMARY_LUA +
	String.raw`
local paths = {}
local i = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("n", threads)
end
function init(args)
  if args[1] then
    for line in io.lines(args[1]) do paths[#paths + 1] = line end
  end
  if #paths > 0 then i = ((n or 1) * 7919) % #paths end
end
function request()
  if #paths == 0 then return wrk.request() end
  i = i % #paths + 1
  return wrk.format(nil, paths[i])
end
function done(summary, latency, requests)
  write_summary(summary, latency)
end
`;

export interface WrkSummary {
	requests: number;
	duration_us: number;
	connect: number;
	read: number;
	write: number;
	status: number;
	timeout: number;
	p50: number;
	p95: number;
	p99: number;
	mean: number;
	max: number;
}

/** Whether wrk is installed (`apt-get install wrk`). */
export function wrkAvailable(): boolean {
	return spawnSync("wrk", ["--version"], { stdio: "ignore" }).error === undefined;
}

const ms = (us: number) => Math.round(us / 10) / 100;

/** What one wrk process is given: its Lua, the files it reads (written next to the script), its arguments. */
export interface WrkInvocation {
	script: string;
	/** File name -> contents; passed as `--` arguments to the script's init(), in this order. */
	files?: [name: string, contents: string][];
	/** wrk's options (threads, connections, duration, headers). */
	options: string[];
	url: string;
	/** Open-files limit to run wrk with: wrk, unlike Node, keeps the shell's soft limit, which thousands of connections pass. */
	openFiles?: number;
}

/** A wrk process running; `finished` resolves once it has exited with its summary. */
export interface RunningWrk {
	pid: number;
	finished: Promise<WrkOutput>;
	/** Ends it at once (a scenario that failed mid-run); `finished` then rejects. */
	kill(): void;
}

export interface WrkOutput {
	summary: WrkSummary;
	/** Everything wrk printed, for the lines a script adds after its summary. */
	output: string;
	/** CPU seconds wrk used, and the seconds it ran. */
	cpuSeconds: number;
	seconds: number;
}

/** wrk's `-H` options for the headers every request carries. */
export function headerOptions(headers: Record<string, string> = {}): string[] {
	return Object.entries(headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`]);
}

/** Starts wrk with a script in a temporary directory that is removed when it exits. */
export function startWrk(invocation: WrkInvocation): RunningWrk {
	const dir = mkdtempSync(join(tmpdir(), "bench-wrk-"));
	const script = join(dir, "bench.lua");
	writeFileSync(script, invocation.script);
	const files = (invocation.files ?? []).map(([name, contents]) => {
		const file = join(dir, name);
		writeFileSync(file, contents);
		return file;
	});
	const args = [...invocation.options, "-s", script, invocation.url, ...(files.length > 0 ? ["--", ...files] : [])];
	// `exec` keeps the pid: the one polled for CPU and read for limits is wrk's own.
	const child =
		invocation.openFiles === undefined
			? spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] })
			: spawn("bash", ["-c", 'ulimit -n "$0" && exec wrk "$@"', String(invocation.openFiles), ...args], { stdio: ["ignore", "pipe", "pipe"] });
	let output = "";
	child.stdout!.on("data", chunk => (output += chunk));
	child.stderr!.on("data", chunk => (output += chunk));
	const started = performance.now();
	let ticks = 0;
	// Polled while it runs: its /proc entry is gone once it exits.
	const poll = setInterval(() => (ticks = processTicks(child.pid!)?.ticks ?? ticks), 250);
	const finished = new Promise<WrkOutput>((resolve, reject) => {
		child.on("error", reject);
		child.on("exit", code => {
			clearInterval(poll);
			rmSync(dir, { recursive: true, force: true });
			const line = output.split("\n").find(l => l.startsWith("WRK_JSON "));
			if (code !== 0 || !line) return reject(new Error(`wrk exited with ${code}: ${output.trim().slice(-500)}`));
			resolve({
				summary: JSON.parse(line.slice("WRK_JSON ".length)) as WrkSummary,
				output,
				cpuSeconds: ticks / TICKS_PER_SECOND,
				seconds: (performance.now() - started) / 1000
			});
		});
	});
	return { pid: child.pid!, finished, kill: () => void child.kill("SIGKILL") };
}

/**
 * A wrk summary as a load result; `activeSeconds` (default: wrk's whole run) is the time
 * requests were being sent, for a run that holds its connections idle first.
 */
export function loadResultOf(s: WrkSummary, activeSeconds = s.duration_us / 1e6): LoadResult {
	const rps = Math.round(s.requests / activeSeconds);
	return {
		responses: s.requests,
		seconds: Math.round(activeSeconds * 100) / 100,
		rps,
		lateRps: rps,
		latencyMs: { p50: ms(s.p50), p95: ms(s.p95), p99: ms(s.p99), mean: ms(s.mean), max: ms(s.max) },
		// wrk counts answers of status 400 and above, not each status.
		statusCodes: { "2xx/3xx": s.requests - s.status, ">=400": s.status },
		non2xx: s.status,
		errors: s.connect + s.read + s.write + s.timeout,
		timeouts: s.timeout
	};
}

export async function runWrk(plan: WrkPlan): Promise<WrkResult> {
	const options = [`-t${plan.threads ?? 1}`, `-c${plan.connections}`, `-d${plan.duration}s`, "--timeout", "10s", ...headerOptions(plan.headers)];
	const files: [string, string][] = plan.paths ? [["paths.txt", plan.paths.join("\n") + "\n"]] : [];
	const url = plan.url + (plan.path ?? (plan.paths ? "/" : ""));
	const { summary, cpuSeconds, seconds } = await startWrk({ script: SCRIPT, files, options, url }).finished;
	return { ...loadResultOf(summary), generatorCpu: Math.round((cpuSeconds / seconds) * 1000) / 10 };
}
