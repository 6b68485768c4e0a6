// Validates Kubernetes objects (a JSON array on stdin) with kubernetes-models, the API's own
// OpenAPI schemas: wrong types and values fail (unknown fields do not: the kubernetes-types
// check under tsc catches those). Prints [{ kind, name, error }] as JSON, error null when valid.
// A script of its own because kubernetes-models is ES modules only, which Jest's CommonJS
// runtime cannot load.
import { Buffer } from "node:buffer";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";

const MODELS = {
	"apps/v1/Deployment": Deployment,
	"autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
	"networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
	"policy/v1/PodDisruptionBudget": PodDisruptionBudget,
	"v1/ConfigMap": ConfigMap,
	"v1/Namespace": Namespace,
	"v1/Secret": Secret,
	"v1/Service": Service
};

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const objects = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const results = objects.map(object => {
	const Model = MODELS[`${object.apiVersion}/${object.kind}`];
	const result = { kind: object.kind, name: object.metadata?.name, error: null };
	if (!Model) return { ...result, error: `no model for ${object.apiVersion} ${object.kind}` };
	try {
		new Model(object).validate();
		return result;
	} catch (err) {
		return { ...result, error: err.message };
	}
});
process.stdout.write(JSON.stringify(results));
