/**
 * Starts nodes of the product as separate processes (server.ts with their own env), for
 * `npm run cluster` and the cluster tests. Each node's output is kept and, if asked,
 * echoed with its name in front.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";

const ROOT = join(__dirname, "..");
// tsx as a loader inside the node process, not as a wrapper process: signals reach the
// server itself (the wrapper kills a child that does not acknowledge a signal within 30 ms).
const NODE_ARGS = ["--import", "tsx", "server.ts"];

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer().listen(0, "127.0.0.1", () => {
			const { port } = server.address() as { port: number };
			server.close(() => resolve(port));
		});
		server.on("error", reject);
	});
}

export interface NodeSpec {
	name: string;
	services: string;
	/** Gateway port, for nodes that run `api`. */
	port?: number;
	env?: Record<string, string>;
}

export interface RunningNode {
	spec: NodeSpec;
	child: ChildProcess;
	output: string[];
	exited: Promise<number | null>;
	/** Stops the node the way an orchestrator does (SIGTERM), or kills it (SIGKILL). */
	stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function spawnNode(spec: NodeSpec, common: Record<string, string>, echo = false): RunningNode {
	const child = spawn(process.execPath, NODE_ARGS, {
		cwd: ROOT,
		env: {
			...process.env,
			...common,
			NODE_ID: spec.name,
			SERVICES: spec.services,
			PORT: String(spec.port ?? 0),
			...spec.env
		},
		stdio: ["ignore", "pipe", "pipe"]
	});
	const output: string[] = [];
	const collect = (chunk: Buffer) => {
		const text = String(chunk);
		output.push(text);
		if (echo) for (const line of text.split("\n").filter(Boolean)) process.stdout.write(`${spec.name.padEnd(12)} | ${line}\n`);
	};
	child.stdout!.on("data", collect);
	child.stderr!.on("data", collect);
	const exited = new Promise<number | null>(resolve => child.once("exit", code => resolve(code)));
	return {
		spec,
		child,
		output,
		exited,
		async stop(signal: NodeJS.Signals = "SIGTERM") {
			if (child.exitCode === null && child.signalCode === null) child.kill(signal);
			const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
			const code = await exited;
			clearTimeout(timer);
			return code;
		}
	};
}

/** Waits until a gateway answers ready (every database up, transporter connected). */
export async function waitReady(port: number, timeoutMs = 60_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	let last = "";
	while (Date.now() < deadline) {
		try {
			const response = await fetch(`http://127.0.0.1:${port}/health/ready`);
			if (response.status === 200) return;
			last = await response.text();
		} catch (err) {
			last = (err as Error).message;
		}
		await new Promise(resolve => setTimeout(resolve, 250));
	}
	throw new Error(`the gateway on port ${port} was not ready within ${timeoutMs} ms: ${last}`);
}

/** The default local cluster: two gateways and two nodes of each stateful service but audit. */
export function defaultTopology(firstPort = 3000): NodeSpec[] {
	return [
		{ name: "gateway-1", services: "api", port: firstPort },
		{ name: "gateway-2", services: "api", port: firstPort + 1 },
		{ name: "products-1", services: "products" },
		{ name: "products-2", services: "products" },
		{ name: "inventory-1", services: "inventory" },
		{ name: "inventory-2", services: "inventory" },
		{ name: "purchases-1", services: "purchases" },
		{ name: "purchases-2", services: "purchases" },
		{ name: "audit-1", services: "audit" }
	];
}
