/**
 * The Dockerfile checked twice: dockerfile-utils (the Docker language server's validator:
 * unknown instructions, malformed arguments, flags, duplicate CMD/HEALTHCHECK) and the
 * image rules of issue 13 on its syntax tree (dockerfile-ast), which no generic linter knows.
 */
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { validate } from "dockerfile-utils";

/** The one base image every stage starts from: Node 24 on Debian bookworm, slim. */
export const BASE_IMAGE = "node:24-bookworm-slim";

/** What dockerfile-utils reports, as `line N: message`. */
export function lintProblems(text: string): string[] {
	return validate(text).map(d => `line ${d.range.start.line + 1}: ${d.message}`);
}

function isJsonForm(instruction: Instruction): boolean {
	return instruction.getArgumentsContent()?.trim().startsWith("[") ?? false;
}

/** Every rule of issue 13 the Dockerfile breaks, one line each; empty when it keeps them all. */
export function imageRuleProblems(text: string): string[] {
	const dockerfile = DockerfileParser.parse(text);
	const problems: string[] = [];
	const froms = dockerfile.getFROMs();
	const stageNames = new Set(froms.map(f => f.getBuildStage()).filter(Boolean));
	if (froms.length < 3) problems.push(`multi-stage: ${froms.length} stage(s), expected dependencies, build and runtime`);
	for (const from of froms) {
		const image = from.getImage() ?? "";
		if (!stageNames.has(image) && image !== BASE_IMAGE)
			problems.push(`line ${from.getRange().start.line + 1}: FROM ${image}: every stage starts from ${BASE_IMAGE} or an earlier stage`);
	}

	const runtimeStart = froms.at(-1)?.getRange().start.line ?? 0;
	const runtime = dockerfile.getInstructions().filter(i => i.getRange().start.line >= runtimeStart);
	const users = runtime.filter(i => i.getKeyword() === "USER");
	const user = users.at(-1)?.getArgumentsContent()?.trim().split(":")[0];
	if (user === undefined) problems.push("runtime stage: no USER, the container would run as root");
	else if (user === "root" || user === "0") problems.push(`runtime stage: USER ${user} is root`);
	const healthchecks = runtime.filter(i => i.getKeyword() === "HEALTHCHECK");
	if (healthchecks.length === 0 || /^NONE\b/i.test(healthchecks.at(-1)?.getArgumentsContent()?.trim() ?? ""))
		problems.push("runtime stage: no HEALTHCHECK");
	const cmd = runtime.filter(i => i.getKeyword() === "CMD").at(-1);
	if (!cmd) problems.push("runtime stage: no CMD");
	else {
		if (!isJsonForm(cmd)) problems.push(`line ${cmd.getRange().start.line + 1}: CMD in shell form: a shell as PID 1 does not pass SIGTERM on; use the exec form`);
		else if (!/"node",\s*"dist\/[^"]+\.js"/.test(cmd.getArgumentsContent() ?? ""))
			problems.push(`line ${cmd.getRange().start.line + 1}: CMD does not run compiled JavaScript from dist/ with node`);
	}
	const entrypoint = runtime.filter(i => i.getKeyword() === "ENTRYPOINT").at(-1);
	if (entrypoint && !isJsonForm(entrypoint)) problems.push(`line ${entrypoint.getRange().start.line + 1}: ENTRYPOINT in shell form`);
	if (runtime.some(i => i.getKeyword() === "RUN" && /\bnpm (ci|install|i)\b|\btsc\b|\btsx\b/.test(i.getArgumentsContent() ?? "")))
		problems.push("runtime stage: installs dependencies or compiles; it should copy them from the build stage");
	if (!runtime.some(i => i.getKeyword() === "ENV" && /NODE_ENV=production/.test(i.getArgumentsContent() ?? "")))
		problems.push("runtime stage: NODE_ENV=production is not set");

	for (const instruction of dockerfile.getInstructions()) {
		const line = instruction.getRange().start.line + 1;
		const args = instruction.getArgumentsContent() ?? "";
		if (instruction.getKeyword() === "ADD" && /\b(https?|git):\/\/|git@/.test(args))
			problems.push(`line ${line}: ADD of a URL: fetch nothing unpinned at build time`);
	}
	if (!dockerfile.getInstructions().some(i => i.getKeyword() === "RUN" && /npm rebuild sqlite3/.test(i.getArgumentsContent() ?? "")))
		problems.push("no RUN builds the sqlite3 addon (ignore-scripts skips it on npm ci)");
	if (!dockerfile.getInstructions().some(i => i.getKeyword() === "RUN" && /npm prune --omit=dev/.test(i.getArgumentsContent() ?? "")))
		problems.push("no RUN drops the development dependencies (npm prune --omit=dev)");
	return problems;
}

/** Entries .dockerignore must keep out of the build context: they must not reach the image. */
export function dockerignoreProblems(text: string): string[] {
	const lines = text.split("\n").map(l => l.trim()).filter(l => l && !l.startsWith("#"));
	const ignoresAll = lines[0] === "*" || lines[0] === "**";
	if (ignoresAll) {
		const allowed = lines.filter(l => l.startsWith("!"));
		return allowed.filter(l => /node_modules|dist|data|\.env|\.git/.test(l)).map(l => `.dockerignore lets ${l.slice(1)} in`);
	}
	return ["node_modules", "dist", "data", ".env", ".git"].filter(entry => !lines.some(l => l.replace(/^\/|\/$/g, "") === entry)).map(entry => `.dockerignore does not keep ${entry} out`);
}
