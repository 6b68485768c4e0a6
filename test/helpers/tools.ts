/**
 * Command-line tools for the deployment checks. Outside CI a missing one skips its checks
 * with a line naming what to install, as for a missing engine (engines.ts); in CI (CI=true)
 * it fails the run instead.
 */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** The path of the first of `commands` found on PATH. */
export function findOnPath(...commands: string[]): string | undefined {
	const dirs = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
	for (const command of commands)
		for (const dir of dirs) {
			const candidate = join(dir, command);
			try {
				accessSync(candidate, constants.X_OK);
				return candidate;
			} catch {
				// not in this directory
			}
		}
	return undefined;
}

/** The tool's path, or undefined (after saying what to install) when its checks should skip. */
export function requiredTool(commands: string[], install: string): string | undefined {
	const found = findOnPath(...commands);
	if (found) return found;
	if (process.env.CI === "true") throw new Error(`${commands.join(" or ")} not found: CI must install it (${install}).`);
	console.error(`skipping: ${commands.join(" or ")} not found; install it (${install}) to run these checks.`);
	return undefined;
}
