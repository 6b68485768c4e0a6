/**
 * The Kubernetes manifests as the cluster gets them: rendered by kustomize, then checked
 * against the API's types in two ways, since neither catches everything alone:
 * kubernetes-models validates values (a string for a number, a bad enum), kubernetes-types
 * under tsc rejects unknown fields (`satisfies` on each object literal).
 */
import { execFileSync } from "node:child_process";
import { basename, join } from "node:path";
import { parseAllDocuments } from "yaml";
import { typeCheckModules } from "./type-check";

export interface KubeObject {
	apiVersion: string;
	kind: string;
	metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
	[field: string]: unknown;
}

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

/** Type-checks groups of objects, one generated module per group; returns tsc's errors per group. */
export function typeCheck(groups: Record<string, KubeObject[]>): Record<string, string[]> {
	return typeCheckModules("kubernetes-types-check", Object.fromEntries(Object.entries(groups).map(([name, objects]) => [name, typedModule(objects)])));
}
