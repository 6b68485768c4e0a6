/**
 * The Kubernetes manifests as the cluster gets them: rendered by kustomize, then checked
 * against the API's types in two ways, since neither catches everything alone:
 * kubernetes-models validates values (a string for a number, a bad enum), kubernetes-types
 * under tsc rejects unknown fields (`satisfies` on each object literal).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parseAllDocuments } from "yaml";

export interface KubeObject {
	apiVersion: string;
	kind: string;
	metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
	[field: string]: unknown;
}

const ROOT = join(__dirname, "../..");

/** Renders a kustomization with `kubectl kustomize` (or a standalone `kustomize build`). */
export function renderKustomization(tool: string, dir: string): KubeObject[] {
	const args = basename(tool) === "kustomize" ? ["build", dir] : ["kustomize", dir];
	const rendered = execFileSync(tool, args, { encoding: "utf8" });
	return parseAllDocuments(rendered).map(doc => doc.toJS() as KubeObject);
}

export interface ModelResult {
	kind: string;
	name: string;
	error: string | null;
}

/** Each object validated by kubernetes-models (test/helpers/kubernetes-models.mjs). */
export function validateWithModels(objects: unknown[]): ModelResult[] {
	const out = execFileSync(process.execPath, [join(__dirname, "kubernetes-models.mjs")], {
		input: JSON.stringify(objects),
		encoding: "utf8",
		maxBuffer: 16 * 1024 * 1024
	});
	return JSON.parse(out) as ModelResult[];
}

/** The kubernetes-types type of each kind the manifests use, by apiVersion and kind. */
const TYPES: Record<string, { module: string; type: string }> = {
	"apps/v1/Deployment": { module: "kubernetes-types/apps/v1", type: "Deployment" },
	"autoscaling/v2/HorizontalPodAutoscaler": { module: "kubernetes-types/autoscaling/v2", type: "HorizontalPodAutoscaler" },
	"networking.k8s.io/v1/NetworkPolicy": { module: "kubernetes-types/networking/v1", type: "NetworkPolicy" },
	"policy/v1/PodDisruptionBudget": { module: "kubernetes-types/policy/v1", type: "PodDisruptionBudget" },
	"v1/ConfigMap": { module: "kubernetes-types/core/v1", type: "ConfigMap" },
	"v1/Namespace": { module: "kubernetes-types/core/v1", type: "Namespace" },
	"v1/Secret": { module: "kubernetes-types/core/v1", type: "Secret" },
	"v1/Service": { module: "kubernetes-types/core/v1", type: "Service" }
};

/** A TypeScript module holding each object as a literal that `satisfies` its kind's type. */
export function typedModule(objects: KubeObject[]): string {
	const imports = new Map<string, Set<string>>();
	const declarations = objects.map((object, index) => {
		const known = TYPES[`${object.apiVersion}/${object.kind}`];
		if (!known) throw new Error(`no kubernetes-types type for ${object.apiVersion} ${object.kind} (add it to TYPES)`);
		imports.set(known.module, (imports.get(known.module) ?? new Set()).add(known.type));
		return `// ${object.kind} ${object.metadata.name}\nexport const object${index} = ${JSON.stringify(object, null, "\t")} satisfies ${known.type};`;
	});
	const header = [...imports].map(([module, types]) => `import type { ${[...types].join(", ")} } from "${module}";`);
	return [...header, "", ...declarations, ""].join("\n");
}

/**
 * Type-checks groups of objects, one generated module per group, in one tsc run; returns
 * tsc's errors per group (empty when the group type-checks). The modules are written under
 * node_modules/.cache so that they resolve kubernetes-types like the project's own code.
 */
export function typeCheck(groups: Record<string, KubeObject[]>): Record<string, string[]> {
	const dir = join(ROOT, "node_modules/.cache/kubernetes-types-check", String(process.pid));
	rmSync(dir, { recursive: true, force: true });
	mkdirSync(dir, { recursive: true });
	const files = Object.keys(groups).map(name => `${name}.ts`);
	for (const [name, objects] of Object.entries(groups)) writeFileSync(join(dir, `${name}.ts`), typedModule(objects));
	const compilerOptions = { strict: true, noEmit: true, target: "ES2023", module: "commonjs", moduleResolution: "node10", ignoreDeprecations: "6.0", types: [] };
	writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files }));
	const tsc = spawnSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", dir, "--pretty", "false"], { cwd: dir, encoding: "utf8" });
	rmSync(dir, { recursive: true, force: true });
	const errors = tsc.stdout.split("\n").filter(line => / error TS\d+/.test(line));
	if (tsc.status !== 0 && errors.length === 0) throw new Error(`tsc failed without errors: ${tsc.stdout}${tsc.stderr}`);
	return Object.fromEntries(Object.keys(groups).map(name => [name, errors.filter(line => line.startsWith(`${name}.ts(`))]));
}
