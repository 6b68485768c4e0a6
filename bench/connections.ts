/**
 * What holding many connections costs and which limits apply, read from `ss` and /proc:
 * ESTABLISHED sockets on a port, a process's resident memory and open-files limit, a
 * listening socket's backlog, the kernel's settings and its listen-queue overflow counters.
 * Read only: the bench reports kernel settings, it never changes them.
 */
import { execFile, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** ESTABLISHED sockets per local port, from `ss -Htn state established` output (local address in the third column). */
export function establishedByLocalPort(ssOutput: string, ports: number[]): Record<number, number> {
	const counts: Record<number, number> = Object.fromEntries(ports.map(port => [port, 0]));
	for (const line of ssOutput.split("\n")) {
		const local = line.trim().split(/\s+/)[2];
		if (!local) continue;
		const port = Number(local.slice(local.lastIndexOf(":") + 1));
		if (port in counts) counts[port]++;
	}
	return counts;
}

/**
 * The ESTABLISHED sockets whose local port is one of `ports` (the servers' ends), IPv4 and
 * IPv6. Through `ss`, which the kernel filters: reading /proc/net/tcp with 20,000 sockets
 * open took 100 to 800 ms of a core each time.
 */
export async function establishedOn(ports: number[]): Promise<Record<number, number>> {
	const filter = `( ${ports.map(port => `sport = :${port}`).join(" or ")} )`;
	const output = await new Promise<string>((resolve, reject) =>
		execFile("ss", ["-Htn", "state", "established", filter], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => (err ? reject(err) : resolve(stdout)))
	);
	return establishedByLocalPort(output, ports);
}

/** Resident memory of a process in KB (VmRSS), or undefined once it is gone. */
export function rssKb(pid: number): number | undefined {
	try {
		const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
		return match ? Number(match[1]) : undefined;
	} catch {
		return undefined;
	}
}

/** The soft open-files limit from the text of /proc/<pid>/limits. */
export function openFilesLimitOf(procLimits: string): number | undefined {
	const match = /^Max open files\s+(\d+|unlimited)\s+/m.exec(procLimits);
	if (!match) return undefined;
	return match[1] === "unlimited" ? Infinity : Number(match[1]);
}

/** A running process's soft open-files limit. */
export function openFilesLimit(pid: number): number | undefined {
	try {
		return openFilesLimitOf(readFileSync(`/proc/${pid}/limits`, "utf8"));
	} catch {
		return undefined;
	}
}

/** The accept-queue length of the socket listening on `port` (Send-Q of `ss -ltn`: what listen() asked for, capped by somaxconn). */
export function listenBacklog(port: number): number | undefined {
	const ss = spawnSync("ss", ["-ltnH", `sport = :${port}`], { encoding: "utf8" });
	if (ss.status !== 0) return undefined;
	const fields = ss.stdout.trim().split("\n")[0]?.trim().split(/\s+/) ?? [];
	return fields.length >= 3 ? Number(fields[2]) : undefined;
}

export interface KernelLimits {
	somaxconn?: number;
	tcpMaxSynBacklog?: number;
	localPortRange?: string;
	/** The system-wide open-files limit. */
	fileMax?: number;
}

function sysctl(path: string): string | undefined {
	try {
		return readFileSync(`/proc/sys/${path}`, "utf8").trim().replace(/\s+/g, "-");
	} catch {
		return undefined;
	}
}

/** The kernel settings that bound how many connections can be opened and queued. */
export function kernelLimits(): KernelLimits {
	const number = (value: string | undefined) => (value === undefined ? undefined : Number(value));
	return {
		somaxconn: number(sysctl("net/core/somaxconn")),
		tcpMaxSynBacklog: number(sysctl("net/ipv4/tcp_max_syn_backlog")),
		localPortRange: sysctl("net/ipv4/ip_local_port_range"),
		fileMax: number(sysctl("fs/file-max"))
	};
}

export interface ListenQueueCounters {
	/** Connections that found a full accept queue, and SYNs dropped for any reason at a listener. */
	overflows: number;
	drops: number;
}

/** TcpExt ListenOverflows and ListenDrops from the text of /proc/net/netstat (machine-wide). */
export function listenQueueCountersOf(netstat: string): ListenQueueCounters {
	const lines = netstat.split("\n").filter(line => line.startsWith("TcpExt:"));
	const names = lines[0]?.split(/\s+/) ?? [];
	const values = lines[1]?.split(/\s+/) ?? [];
	const value = (name: string) => Number(values[names.indexOf(name)] ?? 0);
	return { overflows: value("ListenOverflows"), drops: value("ListenDrops") };
}

export function listenQueueCounters(): ListenQueueCounters {
	try {
		return listenQueueCountersOf(readFileSync("/proc/net/netstat", "utf8"));
	} catch {
		return { overflows: 0, drops: 0 };
	}
}

/** KB of resident memory per held connection: the growth from before the connections to while they are held. */
export function kbPerConnection(rssBeforeKb: number, rssHeldKb: number, connections: number): number | undefined {
	if (connections <= 0) return undefined;
	return Math.round(((rssHeldKb - rssBeforeKb) / connections) * 10) / 10;
}

/**
 * Little's law for a closed loop: with every connection always waiting on an answer, the
 * mean latency should be connections ÷ throughput. Returns that prediction and how far the
 * measured mean is from it (a ratio of 1 agrees).
 */
export function littlesLaw(connections: number, throughput: number, meanLatencyMs: number): { predictedMs: number; ratio: number } {
	const predictedMs = throughput > 0 ? (connections / throughput) * 1000 : Infinity;
	return { predictedMs: Math.round(predictedMs * 10) / 10, ratio: Math.round((meanLatencyMs / predictedMs) * 100) / 100 };
}
