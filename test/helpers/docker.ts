/**
 * The live Docker suite's tools: whether a Docker engine is there (scripts/docker.sh), the
 * docker and docker-compose commands, and the test variant of the real docker-compose.yml.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

export const DOCKER_ENV = "TEST_DOCKER";
export const DOCKER_IMAGE_ENV = "TEST_DOCKER_IMAGE";

const ROOT = join(__dirname, "..", "..");

/**
 * Whether the live Docker suite runs: with TEST_DOCKER=true, and always in CI. Outside CI
 * without it, the suite skips after a line saying how to get an engine.
 */
export function dockerWanted(): boolean {
	if (process.env[DOCKER_ENV] === "true" || process.env.CI === "true") return true;
	console.error(
		`skipping the live Docker suite: run \`bash scripts/docker.sh up && bash scripts/docker.sh build\` (as root), ` +
			`\`eval "$(bash scripts/docker.sh env)"\`, then set ${DOCKER_ENV}=true.`
	);
	return false;
}

/** Runs a command (docker, docker-compose) and gives its stdout; a failure carries its stderr. */
export function run(command: string, args: string[], timeoutMs = 120_000): Promise<string> {
	return new Promise((resolve, reject) => {
		execFile(command, args, { cwd: ROOT, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
			if (err) reject(new Error(`${command} ${args.join(" ")}: ${err.message}\n${stderr}`));
			else resolve(stdout.trim());
		});
	});
}

/** One container of the variant: a replica of a role with ports of its own. */
export interface RoleReplica {
	/** The compose service (and NODE_ID): `<role>-<n>`. */
	name: string;
	role: string;
	port: number;
	healthPort: number;
	metricsPort: number;
}

export interface VariantOptions {
	image: string;
	/** Settings every replica gets on top of the real file's (engines, namespace, keys). */
	env: Record<string, string>;
	/** Free ports: three per replica are taken, in order. */
	ports: number[];
}

type ComposeService = Record<string, any> & { environment?: Record<string, string> | string[]; deploy?: { replicas?: number } };

/** KEY=value lines of an env file, as compose reads them (comments and blank lines skipped). */
export function readEnvFile(path: string): Record<string, string> {
	const env: Record<string, string> = {};
	for (const line of readFileSync(path, "utf8").split("\n")) {
		const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
		if (match) env[match[1]] = match[2];
	}
	return env;
}

function environmentOf(service: ComposeService): Record<string, string> {
	const { environment } = service;
	if (Array.isArray(environment)) return Object.fromEntries(environment.map(entry => entry.split(/=(.*)/s).slice(0, 2) as [string, string]));
	return Object.fromEntries(Object.entries(environment ?? {}).map(([key, value]) => [key, String(value)]));
}

/**
 * The real docker-compose.yml with only the product's roles (the services that set SERVICES),
 * each replica a service of its own on the host's network: its own PORT, HEALTH_PORT,
 * METRICS_PORT and NODE_ID, the real env file's settings overridden by `options.env`, the
 * image under test, no restart (a crash must show). What the real file says about stopping
 * (init, stop_grace_period) stays.
 */
export function composeVariant(options: VariantOptions, file = join(ROOT, "docker-compose.yml")): { compose: Record<string, unknown>; replicas: RoleReplica[] } {
	const real = parse(readFileSync(file, "utf8"), { merge: true }) as { services: Record<string, ComposeService> };
	const services: Record<string, unknown> = {};
	const replicas: RoleReplica[] = [];
	const ports = [...options.ports];
	for (const [role, service] of Object.entries(real.services)) {
		const roleEnv = environmentOf(service);
		if (!roleEnv.SERVICES) continue;
		const envFiles = [service.env_file ?? []].flat() as string[];
		const fileEnv = Object.assign({}, ...envFiles.map(name => readEnvFile(join(ROOT, name))));
		// The engines are the host's, the image is the one under test, nothing is published.
		const { build: _build, deploy, ports: _ports, depends_on: _dependsOn, env_file: _envFile, restart: _restart, environment: _environment, image: _image, ...kept } = service;
		for (let n = 1; n <= (deploy?.replicas ?? 1); n++) {
			const [port, healthPort, metricsPort] = ports.splice(0, 3);
			if (metricsPort === undefined) throw new Error("composeVariant: not enough free ports given");
			const replica = { name: `${role}-${n}`, role, port, healthPort, metricsPort };
			replicas.push(replica);
			services[replica.name] = {
				...kept,
				image: options.image,
				network_mode: "host",
				restart: "no",
				environment: {
					...fileEnv,
					...roleEnv,
					...options.env,
					NODE_ID: replica.name,
					PORT: String(port),
					HEALTH_PORT: String(healthPort),
					METRICS_PORT: String(metricsPort)
				}
			};
		}
	}
	return { compose: { services }, replicas };
}
