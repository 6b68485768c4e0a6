/** Stops or starts an engine of scripts/infra.sh, for the fault suites. */
import { spawn } from "node:child_process";
import { join } from "node:path";

export function infra(...args: string[]): Promise<void> {
	return new Promise<void>((resolve, reject) => {
		const child = spawn("bash", [join(__dirname, "../../scripts/infra.sh"), ...args], { stdio: "ignore" });
		child.once("exit", code => (code === 0 ? resolve() : reject(new Error(`infra.sh ${args.join(" ")} exited with ${code}`))));
	});
}
