/**
 * The bench's child processes: every server runs in its own Node process (so the load
 * generator never shares its event loop), with its output in a log file, and is always
 * stopped: SIGTERM, then SIGKILL after a grace period. Also the CPU each one used.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { CONFIG_VARIABLES } from "../config/env";

export const ROOT = join(__dirname, "..");

const STOP_GRACE_MS = 8000;

export interface Child {
	name: string;
	pid: number;
	logFile: string;
	/** Where the log stood when the node became ready and when it was told to stop: only what it logged while serving is reported. */
	logOffset: number;
	logEnd?: number;
	/** Set once the process has exited. */
	exit?: { code: number | null; signal: NodeJS.Signals | null };
	/** Set when the bench killed it on purpose (the failure a scenario measures), with the CPU ticks it had used by then. */
	killed?: { ticks: number };
	exited: Promise<void>;
	process: ChildProcess;
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

function logSize(child: Child): number {
	try {
		return statSync(child.logFile).size;
	} catch {
		return 0;
	}
}

/** The last lines of a log file, to explain a failure. */
function logTail(file: string, lines = 15): string {
	try {
		return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
	} catch {
		return "(no log)";
	}
}

export class Processes {
	private readonly children: Child[] = [];
	/** Set by stopAll: no process starts after that. */
	private closed = false;

	constructor(private readonly logDir: string) {}

	/** Starts `node --import tsx <script>` from the repository root with the given settings. */
	start(name: string, script: string, settings: Record<string, string>): Child {
		if (this.closed) throw new Error("the bench is stopping");
		const env: NodeJS.ProcessEnv = { ...process.env };
		// Settings of server.ts: a node gets only the ones the bench gives it, never the caller's.
		for (const variable of CONFIG_VARIABLES) delete env[variable];
		Object.assign(env, settings);
		const logFile = join(this.logDir, `${name}.log`);
		const fd = openSync(logFile, "a");
		const proc = spawn(process.execPath, ["--import", "tsx", script], { cwd: ROOT, env, stdio: ["ignore", fd, fd] });
		closeSync(fd);
		if (proc.pid === undefined) throw new Error(`${name} did not start`);
		const child: Child = { name, pid: proc.pid, logFile, logOffset: 0, process: proc, exited: Promise.resolve() };
		child.exited = new Promise(resolve =>
			proc.once("exit", (code, signal) => {
				child.exit = { code, signal };
				resolve();
			})
		);
		this.children.push(child);
		return child;
	}

	/** Waits until `url` answers 200; fails early, with the log's tail, if the child exits first. */
	async waitReady(child: Child, url: string, timeoutMs = 90_000, headers: Record<string, string> = {}): Promise<void> {
		const deadline = Date.now() + timeoutMs;
		let last = "no answer";
		while (Date.now() < deadline) {
			if (child.exit) throw new Error(`${child.name} exited (code ${child.exit.code}) before it was ready:\n${logTail(child.logFile)}`);
			try {
				const res = await fetch(url, { headers, signal: AbortSignal.timeout(2000) });
				last = `${res.status} ${await res.text()}`;
				if (res.status === 200) return;
			} catch (err) {
				last = (err as Error).message;
			}
			await sleep(250);
		}
		throw new Error(`${child.name} was not ready after ${timeoutMs / 1000} s (${url}: ${last.slice(0, 300)}):\n${logTail(child.logFile)}`);
	}

	/** From now on, what the children log is reported. */
	markReady(children: Child[]): void {
		for (const child of children) child.logOffset = logSize(child);
	}

	/** SIGTERM, then SIGKILL if it is still running after the grace period. */
	async stop(child: Child): Promise<void> {
		if (child.exit) return;
		child.logEnd = logSize(child);
		child.process.kill("SIGTERM");
		const graceful = await Promise.race([child.exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
		if (!graceful && !child.exit) {
			child.process.kill("SIGKILL");
			await child.exited;
		}
	}

	/** SIGKILL at once, as a crash would: no drain, no goodbye to the cluster. */
	kill(child: Child): void {
		if (child.exit) return;
		child.killed = { ticks: processTicks(child.pid)?.ticks ?? 0 };
		child.logEnd = logSize(child);
		child.process.kill("SIGKILL");
	}

	async stopAll(): Promise<void> {
		this.closed = true;
		await Promise.all(this.children.map(child => this.stop(child)));
	}

	/** Last resort when the bench itself exits: no child may outlive it. */
	killAllNow(): void {
		for (const child of this.children) if (!child.exit) child.process.kill("SIGKILL");
	}

	/** The children that exited although nobody stopped or killed them. */
	crashed(children: Child[]): Child[] {
		return children.filter(child => child.exit !== undefined && !child.killed);
	}
}

// Linux reports process CPU time in clock ticks of USER_HZ, which is 100 on every supported architecture.
export const TICKS_PER_SECOND = 100;
/** Engines whose CPU is worth showing next to the nodes'; machine-wide, so other users' load counts too. */
const ENGINES = ["postgres", "redis-server", "nats-server"];

export function processTicks(pid: number): { comm: string; ticks: number } | undefined {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
		const close = stat.lastIndexOf(")");
		const comm = stat.slice(stat.indexOf("(") + 1, close);
		const fields = stat.slice(close + 2).split(" ");
		// Fields 14 and 15 of proc(5), utime and stime; `fields` starts at field 3.
		return { comm, ticks: Number(fields[11]) + Number(fields[12]) };
	} catch {
		return undefined;
	}
}

function engineTicks(): Map<number, { comm: string; ticks: number }> {
	const result = new Map<number, { comm: string; ticks: number }>();
	for (const entry of readdirSync("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		const info = processTicks(Number(entry));
		if (info && ENGINES.includes(info.comm)) result.set(Number(entry), info);
	}
	return result;
}

function machineTicks(): { busy: number; total: number } {
	const [, ...values] = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
	const numbers = values.map(Number);
	const total = numbers.slice(0, 8).reduce((a, b) => a + b, 0);
	const idle = numbers[3] + numbers[4];
	return { busy: total - idle, total };
}

export interface CpuReport {
	/** Percent of one core over the window, per bench child. */
	nodes: Record<string, number>;
	/** The load generator: the bench process itself (autocannon), or wrk's process. */
	loadGenerator: number;
	generator?: "wrk" | "autocannon";
	/** Percent of one core per engine, summed over its processes (machine-wide). */
	engines: Record<string, number>;
	/** Busy share of all cores, percent. */
	machineBusy: number;
}

/** CPU used between `start` and `stop`, per child, per engine and for the whole machine. */
export class CpuMeter {
	private startedAt = 0;
	private nodeStart = new Map<string, number>();
	private engineStart = new Map<number, { comm: string; ticks: number }>();
	private machineStart = { busy: 0, total: 0 };
	private selfStart: NodeJS.CpuUsage = process.cpuUsage();

	constructor(private readonly children: Child[]) {}

	start(): void {
		this.startedAt = performance.now();
		this.nodeStart = new Map(this.children.map(c => [c.name, processTicks(c.pid)?.ticks ?? 0]));
		this.engineStart = engineTicks();
		this.machineStart = machineTicks();
		this.selfStart = process.cpuUsage();
	}

	stop(): CpuReport {
		const seconds = (performance.now() - this.startedAt) / 1000;
		const percent = (ticks: number) => round1((ticks / TICKS_PER_SECOND / seconds) * 100);
		const nodes: Record<string, number> = {};
		const ticksNow = (child: Child) => processTicks(child.pid)?.ticks ?? child.killed?.ticks ?? 0;
		for (const child of this.children) nodes[child.name] = percent(ticksNow(child) - (this.nodeStart.get(child.name) ?? 0));
		const engines: Record<string, number> = Object.fromEntries(ENGINES.map(name => [name, 0]));
		for (const [pid, info] of engineTicks()) engines[info.comm] += info.ticks - (this.engineStart.get(pid)?.ticks ?? 0);
		for (const name of ENGINES) engines[name] = percent(engines[name]);
		const self = process.cpuUsage(this.selfStart);
		const machine = machineTicks();
		return {
			nodes,
			loadGenerator: round1(((self.user + self.system) / 1e6 / seconds) * 100),
			engines,
			machineBusy: round1(((machine.busy - this.machineStart.busy) / Math.max(1, machine.total - this.machineStart.total)) * 100)
		};
	}
}

/** Percent of one core a set of children used over `ms`, to tell when seeding's aftermath has settled. */
export async function cpuOver(children: Child[], ms: number): Promise<number> {
	const before = children.map(c => processTicks(c.pid)?.ticks ?? 0);
	await sleep(ms);
	const after = children.map(c => processTicks(c.pid)?.ticks ?? 0);
	const ticks = after.reduce((total, t, i) => total + t - before[i], 0);
	return (ticks / TICKS_PER_SECOND / (ms / 1000)) * 100;
}

function round1(value: number): number {
	return Math.round(value * 10) / 10;
}

/** Log lines at warn level or above, counted, with a few distinct examples. */
export function logFindings(child: Child): { warnings: number; errors: number; examples: string[] } {
	let text = "";
	try {
		text = readFileSync(child.logFile).subarray(child.logOffset, child.logEnd).toString("utf8");
	} catch {
		return { warnings: 0, errors: 0, examples: [] };
	}
	let warnings = 0;
	let errors = 0;
	const errorExamples = new Set<string>();
	const warningExamples = new Set<string>();
	for (const line of text.split("\n")) {
		const level = /"level":"(\w+)"/.exec(line)?.[1] ?? /\b(WARN|ERROR|FATAL)\b/.exec(line)?.[1]?.toLowerCase();
		const isError = level === "error" || level === "fatal";
		if (level === "warn") warnings++;
		else if (isError) errors++;
		else continue;
		// Ids and timestamps make every line unique; examples are grouped without them.
		const gist = line.replace(/"ts":\d+,?/, "").replace(/[0-9a-f-]{36}/g, "<id>").slice(0, 300);
		const examples = isError ? errorExamples : warningExamples;
		if (examples.size < 5) examples.add(gist);
	}
	return { warnings, errors, examples: [...errorExamples, ...warningExamples].slice(0, 5) };
}
