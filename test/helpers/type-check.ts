/**
 * Type-checks generated TypeScript modules (object literals that `satisfies` a library's
 * types) in one tsc run, for the deployment files that have types but no validator here:
 * Kubernetes manifests (kubernetes.ts) and Grafana dashboards (grafana.ts).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(__dirname, "../..");

/**
 * tsc's errors per module (empty when the module type-checks), given each module's source
 * by name. The modules are written under node_modules/.cache/<cache> so that they resolve
 * the project's packages like its own code does.
 */
export function typeCheckModules(cache: string, modules: Record<string, string>): Record<string, string[]> {
	const dir = join(ROOT, "node_modules/.cache", cache, String(process.pid));
	rmSync(dir, { recursive: true, force: true });
	mkdirSync(dir, { recursive: true });
	const files = Object.keys(modules).map(name => `${name}.ts`);
	for (const [name, source] of Object.entries(modules)) writeFileSync(join(dir, `${name}.ts`), source);
	const compilerOptions = { strict: true, noEmit: true, target: "ES2023", module: "commonjs", moduleResolution: "node10", ignoreDeprecations: "6.0", types: [] };
	writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files }));
	const tsc = spawnSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", dir, "--pretty", "false"], { cwd: dir, encoding: "utf8" });
	rmSync(dir, { recursive: true, force: true });
	const errors = tsc.stdout.split("\n").filter(line => / error TS\d+/.test(line));
	if (tsc.status !== 0 && errors.length === 0) throw new Error(`tsc failed without errors: ${tsc.stdout}${tsc.stderr}`);
	return Object.fromEntries(Object.keys(modules).map(name => [name, errors.filter(line => line.startsWith(`${name}.ts(`))]));
}
