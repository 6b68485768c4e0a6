/**
 * A node started the way an operator starts one (`server.ts --repl`, as `npm run repl`
 * does), its REPL fed through standard input: each command is written as a line and its
 * answer is what the node prints before the next prompt.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./wait";

const ROOT = join(__dirname, "..", "..");
/** moleculer-repl's default delimiter, which Node's REPL prints after every answer. */
const PROMPT = "mol $ ";
/** Node starting, migrating and the REPL coming up: minutes on a loaded machine, seconds usually. */
const START_MS = 120_000;
const ANSWER_MS = 30_000;

export interface ReplNode {
	child: ChildProcess;
	/** Runs one command and gives back what it printed (the prompt left out). */
	run(command: string): Promise<string>;
	/** Everything the node printed so far. */
	output(): string;
	stop(): Promise<void>;
}

export async function startReplNode(env: Record<string, string>): Promise<ReplNode> {
	// The REPL keeps its history in the home directory: a fresh one per node.
	const home = mkdtempSync(join(tmpdir(), "pi-repl-home-"));
	const child = spawn(process.execPath, ["--import", "tsx", "server.ts", "--repl"], {
		cwd: ROOT,
		env: { ...process.env, NODE_ENV: "test", LOG_LEVEL: "error", DRAIN_SECONDS: "0", ...env, HOME: home },
		stdio: ["pipe", "pipe", "pipe"]
	});
	let text = "";
	child.stdout!.on("data", chunk => (text += String(chunk)));
	child.stderr!.on("data", chunk => (text += String(chunk)));
	const exited = new Promise<void>(resolve => child.once("exit", () => resolve()));
	let read = 0;

	const nextPrompt = (timeoutMs: number) =>
		waitFor(() => {
			if (child.exitCode !== null) throw new Error(`the node exited (${child.exitCode}):\n${text}`);
			const at = text.indexOf(PROMPT, read);
			if (at < 0) return undefined;
			const answer = text.slice(read, at);
			read = at + PROMPT.length;
			return { answer };
		}, timeoutMs).catch(err => {
			throw new Error(`${(err as Error).message}\n--- the node printed:\n${text}`);
		});

	await nextPrompt(START_MS);
	return {
		child,
		output: () => text,
		async run(command: string) {
			child.stdin!.write(`${command}\n`);
			return (await nextPrompt(ANSWER_MS)).answer.trimEnd();
		},
		async stop() {
			// Ending the input is the REPL's exit: the node stops its broker and leaves.
			child.stdin!.end();
			const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
			await exited;
			clearTimeout(timer);
			rmSync(home, { recursive: true, force: true });
		}
	};
}
