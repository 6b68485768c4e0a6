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

/** The Lua that feeds the paths and prints the summary as one JSON line. */
const SCRIPT = String.raw`
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
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p95":%d,"p99":%d,"mean":%.1f,"max":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean, latency.max))
end
`;

interface WrkSummary {
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

export async function runWrk(plan: WrkPlan): Promise<WrkResult> {
	const dir = mkdtempSync(join(tmpdir(), "bench-wrk-"));
	try {
		const script = join(dir, "bench.lua");
		writeFileSync(script, SCRIPT);
		const args = [`-t${plan.threads ?? 1}`, `-c${plan.connections}`, `-d${plan.duration}s`, "--timeout", "10s", "-s", script];
		for (const [name, value] of Object.entries(plan.headers ?? {})) args.push("-H", `${name}: ${value}`);
		args.push(plan.url + (plan.path ?? (plan.paths ? "/" : "")));
		if (plan.paths) {
			const list = join(dir, "paths.txt");
			writeFileSync(list, plan.paths.join("\n") + "\n");
			args.push("--", list);
		}
		const child = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
		let output = "";
		child.stdout.on("data", chunk => (output += chunk));
		child.stderr.on("data", chunk => (output += chunk));
		const started = performance.now();
		let ticks = 0;
		// Polled while it runs: its /proc entry is gone once it exits.
		const poll = setInterval(() => (ticks = processTicks(child.pid!)?.ticks ?? ticks), 250);
		const code = await new Promise<number | null>(resolve => child.on("exit", resolve));
		clearInterval(poll);
		const seconds = (performance.now() - started) / 1000;
		const line = output.split("\n").find(l => l.startsWith("WRK_JSON "));
		if (code !== 0 || !line) throw new Error(`wrk exited with ${code}: ${output.trim().slice(-500)}`);
		const s = JSON.parse(line.slice("WRK_JSON ".length)) as WrkSummary;
		const runSeconds = s.duration_us / 1e6;
		const rps = Math.round(s.requests / runSeconds);
		return {
			responses: s.requests,
			seconds: Math.round(runSeconds * 100) / 100,
			rps,
			lateRps: rps,
			latencyMs: { p50: ms(s.p50), p95: ms(s.p95), p99: ms(s.p99), mean: ms(s.mean), max: ms(s.max) },
			// wrk counts answers of status 400 and above, not each status.
			statusCodes: { "2xx/3xx": s.requests - s.status, ">=400": s.status },
			non2xx: s.status,
			errors: s.connect + s.read + s.write + s.timeout,
			timeouts: s.timeout,
			generatorCpu: Math.round((ticks / TICKS_PER_SECOND / seconds) * 1000) / 10
		};
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}
