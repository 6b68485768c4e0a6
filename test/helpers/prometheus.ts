/**
 * A real Prometheus server (Debian's `prometheus`) for a suite: on 127.0.0.1 at a free port,
 * with a TSDB in a temporary directory, scraping the given targets and evaluating the
 * project's rules every second; stopped by its pid and its directory removed after.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { freePort } from "../../scripts/cluster-nodes";
import { RULES_FILE } from "./promql";
import { waitFor } from "./wait";

export interface Alert {
	labels: Record<string, string>;
	state: "pending" | "firing";
	value: string;
}

export interface Sample {
	metric: Record<string, string>;
	value: [number, string];
}

export type QueryAnswer = { status: "success"; data: { resultType: string; result: Sample[] } } | { status: "error"; error: string };

export interface PrometheusServer {
	url: string;
	/** The instant vector of an expression, or the error Prometheus answers. */
	query(expr: string): Promise<QueryAnswer>;
	/** The alerts pending or firing now (`GET /api/v1/alerts`). */
	alerts(): Promise<Alert[]>;
	stop(): Promise<void>;
}

/** The job name the rules expect (`up{job="product-inventory"}`). */
export const JOB = "product-inventory";

export async function startPrometheus(binary: string, targets: string[]): Promise<PrometheusServer> {
	const dir = mkdtempSync(join(tmpdir(), "pi-prometheus-"));
	const config = {
		global: { scrape_interval: "1s", evaluation_interval: "1s" },
		rule_files: [RULES_FILE],
		scrape_configs: [{ job_name: JOB, static_configs: [{ targets }] }]
	};
	writeFileSync(join(dir, "prometheus.yml"), stringify(config));
	const url = `http://127.0.0.1:${await freePort()}`;
	const child: ChildProcess = spawn(
		binary,
		[`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=${new URL(url).host}`, "--log.level=warn"],
		{ stdio: ["ignore", "ignore", "pipe"] }
	);
	const output: string[] = [];
	child.stderr!.on("data", chunk => output.push(String(chunk)));
	const exited = new Promise<void>(resolve => child.once("exit", () => resolve()));
	const stop = async () => {
		if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
		await exited;
		rmSync(dir, { recursive: true, force: true });
	};
	try {
		await waitFor(async () => child.exitCode === null && (await fetch(`${url}/-/ready`)).ok);
	} catch (err) {
		await stop();
		throw new Error(`Prometheus did not get ready (${(err as Error).message}): ${output.join("")}`);
	}
	const api = async (path: string) => (await fetch(`${url}${path}`)).json();
	return {
		url,
		query: async expr => (await api(`/api/v1/query?query=${encodeURIComponent(expr)}`)) as QueryAnswer,
		alerts: async () => ((await api("/api/v1/alerts")) as { data: { alerts: Alert[] } }).data.alerts,
		stop
	};
}
