/**
 * The deployment files checked without running them (issue 13): docker-compose.yml by
 * docker-compose itself and the Compose Specification schema, the Dockerfile by a linter
 * and the image rules, the Kubernetes manifests rendered by kustomize and checked against
 * the API's types and the deployment rules. Each check also runs on a file broken on
 * purpose, so a check that stopped catching anything fails too.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import { parse } from "yaml";
import { dockerignoreProblems, imageRuleProblems, lintProblems } from "../helpers/dockerfile-rules";
import { renderKustomization, typeCheck, validateWithModels, type KubeObject } from "../helpers/kubernetes";
import { requiredTool } from "../helpers/tools";

const ROOT = join(__dirname, "../..");
const ROLES = ["api", "products", "inventory", "purchases", "audit"];
const read = (file: string) => readFileSync(join(ROOT, file), "utf8");

type Compose = { services: Record<string, Record<string, unknown>>; [key: string]: unknown };
const loadCompose = (): Compose => parse(read("docker-compose.yml"), { merge: true }) as Compose;

describe("docker-compose.yml", () => {
	const compose = loadCompose();

	describe("docker-compose config -q", () => {
		const tool = requiredTool(["docker-compose"], "apt-get install -y --no-install-recommends docker-compose");
		const run = (dir: string, file: string) => execFileSync(tool as string, ["-f", file, "config", "-q"], { cwd: dir, encoding: "utf8", stdio: "pipe" });

		(tool ? it : it.skip)("accepts the file", () => {
			expect(() => run(ROOT, "docker-compose.yml")).not.toThrow();
		});

		(tool ? it : it.skip)("rejects a file with a misspelt key", () => {
			const dir = mkdtempSync(join(tmpdir(), "compose-typo-"));
			try {
				writeFileSync(join(dir, "docker-compose.yml"), "services:\n  api:\n    image: product-inventory:latest\n    deploy:\n      replica: 2\n");
				expect(() => run(dir, "docker-compose.yml")).toThrow(/replica/);
			} finally {
				rmSync(dir, { recursive: true, force: true });
			}
		});
	});

	describe("the Compose Specification schema", () => {
		// dclint ships the Compose Specification's schema; its package exports do not list it.
		const schema = JSON.parse(read("node_modules/dclint/schemas/compose.schema.json"));
		const ajv = new Ajv({ allErrors: true, strict: false });
		addFormats(ajv);
		// It names draft-07 by an https address Ajv does not know; Ajv's default is draft-07.
		const validate = ajv.compile({ ...schema, $schema: undefined });
		const errors = (doc: unknown) => (validate(doc) ? [] : (validate.errors ?? []).map(e => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`));

		it("accepts the file", () => {
			expect(errors(compose)).toEqual([]);
		});

		it("rejects a misspelt key and a wrong type", () => {
			const broken = structuredClone(compose);
			broken.services.api.deploy = { replica: 2 };
			broken.services.products.stop_grace_period = 30;
			broken.services.inventory.depends_on = { nats: { condition: "service_healty" } };
			const found = errors(broken).join("\n");
			expect(found).toMatch(/\/services\/api\/deploy must NOT have additional properties.*replica/);
			expect(found).toMatch(/\/services\/products\/stop_grace_period must be string/);
			expect(found).toMatch(/\/services\/inventory\/depends_on\/nats\/condition must be equal to one of the allowed values/);
		});
	});

	describe("the Compose linter (dclint), its errors", () => {
		/** dclint's errors (its style warnings aside) for a compose file, as `rule: message`. */
		const lintErrors = (file: string): string[] => {
			const run = spawnSync(process.execPath, [join(ROOT, "node_modules/dclint/bin/dclint.cjs"), "--quiet", "--formatter", "json", file], { encoding: "utf8" });
			const reports = JSON.parse(run.stdout || "[]") as { messages: { rule: string; type: string; message: string }[] }[];
			return reports.flatMap(r => r.messages).filter(m => m.type === "error").map(m => `${m.rule}: ${m.message}`);
		};

		it("reports none", () => {
			expect(lintErrors(join(ROOT, "docker-compose.yml"))).toEqual([]);
		});

		it("reports a port published on every interface", () => {
			const dir = mkdtempSync(join(tmpdir(), "compose-lint-"));
			try {
				writeFileSync(join(dir, "docker-compose.yml"), 'services:\n  prometheus:\n    image: prom/prometheus:v2.53.2\n    ports:\n      - "9090:9090"\n');
				expect(lintErrors(join(dir, "docker-compose.yml"))).toEqual([expect.stringMatching(/^no-unbound-port-interfaces: Service "prometheus" is exporting port "9090:9090"/)]);
			} finally {
				rmSync(dir, { recursive: true, force: true });
			}
		});
	});

	it("runs every role of the one image, scaled, after the engines are healthy", () => {
		for (const role of ROLES) {
			const service = compose.services[role];
			expect(service).toMatchObject({ image: "product-inventory:latest", init: true, env_file: "compose.env", environment: { SERVICES: role } });
			const dependsOn = service.depends_on as Record<string, { condition: string }>;
			expect(Object.keys(dependsOn).sort()).toEqual(["elasticsearch", "kafka", "nats", "postgres", "redis"]);
			for (const dependency of Object.values(dependsOn)) expect(dependency.condition).toBe("service_healthy");
		}
		for (const role of ["api", "inventory", "purchases"])
			expect((compose.services[role].deploy as { replicas: number }).replicas).toBeGreaterThanOrEqual(2);
	});

	it("gives every other service a health check and publishes ports only for the API, Grafana, Prometheus and Zipkin, on 127.0.0.1", () => {
		for (const [name, service] of Object.entries(compose.services)) {
			if (!ROLES.includes(name)) expect({ name, healthcheck: service.healthcheck }).toEqual({ name, healthcheck: expect.objectContaining({ test: expect.any(Array) }) });
			if (service.ports) {
				expect(["api", "grafana", "prometheus", "zipkin"]).toContain(name);
				for (const port of service.ports as string[]) expect(port).toMatch(/^127\.0\.0\.1:/);
			}
		}
	});
});

describe("Dockerfile", () => {
	const dockerfile = read("Dockerfile");

	it("has nothing the Dockerfile linter reports", () => {
		expect(lintProblems(dockerfile)).toEqual([]);
	});

	it("keeps the image rules: stages, pinned base, non-root, health check, exec-form CMD", () => {
		expect(imageRuleProblems(dockerfile)).toEqual([]);
	});

	it("has a .dockerignore that keeps local builds, data and secrets out", () => {
		expect(dockerignoreProblems(read(".dockerignore"))).toEqual([]);
	});

	it("reports a broken Dockerfile", () => {
		const broken = dockerfile
			.replace(/^USER .*$/m, "")
			.replace(/^FROM node:24-bookworm-slim AS runtime$/m, "FROM node:latest AS runtime\nADD https://example.com/tool.tgz /opt/")
			.replace(/^CMD \[.*\]$/m, "CMD node dist/server.js")
			.replace(/^EXPOSE /m, "EXPOSED ");
		expect(lintProblems(broken)).toEqual([expect.stringMatching(/Unknown instruction: EXPOSED/)]);
		expect(imageRuleProblems(broken)).toEqual([
			expect.stringMatching(/FROM node:latest: every stage starts from node:24-bookworm-slim/),
			"runtime stage: no USER, the container would run as root",
			expect.stringMatching(/CMD in shell form/),
			expect.stringMatching(/ADD of a URL/)
		]);
	});
});

describe("k8s/ (kustomize)", () => {
	const tool = requiredTool(["kubectl", "kustomize"], "kubectl (it has kustomize built in) or kustomize");
	const objects = tool ? renderKustomization(tool, join(ROOT, "k8s")) : [];
	const describeRendered = tool ? describe : describe.skip;
	const ofKind = <T = KubeObject>(kind: string) => objects.filter(o => o.kind === kind) as unknown as T[];

	/** A Deployment with an unknown field and one with a wrong type, for the checks to catch. */
	function brokenDeployments(): KubeObject[] {
		const deployment = ofKind("Deployment")[0];
		const unknownField = structuredClone(deployment) as KubeObject & { spec: Record<string, unknown> };
		unknownField.spec.replica = 3;
		const wrongType = structuredClone(deployment) as KubeObject & { spec: Record<string, unknown> };
		wrongType.spec.replicas = "3";
		return [unknownField, wrongType];
	}

	describeRendered("against the Kubernetes API types", () => {
		it("renders objects of the expected kinds", () => {
			const kinds = objects.map(o => o.kind);
			expect(new Set(kinds)).toEqual(new Set(["Namespace", "ConfigMap", "Secret", "Service", "Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"]));
		});

		it("validates every object with kubernetes-models, and rejects a wrong type", () => {
			const results = validateWithModels([...objects, ...brokenDeployments()]);
			expect(results.slice(0, objects.length).filter(r => r.error)).toEqual([]);
			// kubernetes-models ignores unknown fields; the type check below catches them.
			expect(results.slice(objects.length).map(r => r.error)).toEqual([null, expect.stringMatching(/spec\/replicas must be integer/)]);
		});

		it("type-checks every object with kubernetes-types under tsc, and rejects an unknown field and a wrong type", () => {
			const [unknownField, wrongType] = brokenDeployments();
			const errors = typeCheck({ manifests: objects, unknownField: [unknownField], wrongType: [wrongType] });
			expect(errors.manifests).toEqual([]);
			expect(errors.unknownField).toEqual([expect.stringMatching(/error TS2353: Object literal may only specify known properties, and '"replica"' does not exist in type 'DeploymentSpec'/)]);
			expect(errors.wrongType).toEqual([expect.stringMatching(/error TS2322: Type 'string' is not assignable to type 'number'/)]);
		});
	});

	describeRendered("the deployment rules", () => {
		type Container = Record<string, any>;
		type Deployment = KubeObject & { spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: Record<string, any> } } };
		const deployments = ofKind<Deployment>("Deployment");
		const config = ofKind<KubeObject & { data: Record<string, string> }>("ConfigMap")[0];
		const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

		it("has one Deployment per role, 3 replicas each, running its role of the one image", () => {
			expect(deployments.map(d => d.metadata.name).sort()).toEqual([...ROLES].sort());
			for (const d of deployments) {
				expect({ name: d.metadata.name, replicas: d.spec.replicas }).toEqual({ name: d.metadata.name, replicas: 3 });
				const [container] = d.spec.template.spec.containers as Container[];
				expect(container.image).toMatch(/^product-inventory:/);
				expect(container.env).toContainEqual({ name: "SERVICES", value: d.metadata.name });
				expect(container.envFrom).toEqual([{ configMapRef: { name: config.metadata.name } }, { secretRef: { name: "product-inventory-secrets" } }]);
			}
		});

		it("probes every pod on /health/live and /health/ready of its health port, with requests and limits", () => {
			for (const d of deployments) {
				const [container] = d.spec.template.spec.containers as Container[];
				const healthPort = container.ports.find((p: Container) => p.name === "health").containerPort;
				expect(String(healthPort)).toBe(config.data.HEALTH_PORT);
				expect(container.startupProbe.httpGet).toEqual({ path: "/health/live", port: "health" });
				expect(container.livenessProbe.httpGet).toEqual({ path: "/health/live", port: "health" });
				expect(container.readinessProbe.httpGet).toEqual({ path: "/health/ready", port: "health" });
				for (const kind of ["requests", "limits"]) expect(Object.keys(container.resources[kind]).sort()).toEqual(["cpu", "memory"]);
			}
		});

		it("runs every pod non-root on a read-only root file system without privileges, with writable /app/data and /tmp", () => {
			for (const d of deployments) {
				const pod = d.spec.template.spec;
				expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } });
				const [container] = pod.containers as Container[];
				expect(container.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
				const emptyDirs = new Set((pod.volumes as Container[]).filter(v => v.emptyDir).map(v => v.name));
				const writable = (container.volumeMounts as Container[]).filter(m => emptyDirs.has(m.name)).map(m => m.mountPath);
				expect(writable.sort()).toEqual(["/app/data", "/tmp"]);
			}
		});

		it("gives every pod the time to drain: the grace period covers DRAIN_SECONDS and the in-flight calls' 10 s", () => {
			const drainSeconds = Number(config.data.DRAIN_SECONDS);
			expect(drainSeconds).toBeGreaterThanOrEqual(5);
			for (const d of deployments) expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(drainSeconds + 10 + 5);
		});

		it("has a PodDisruptionBudget and a HorizontalPodAutoscaler on CPU for every Deployment, and a request-rate metric for the gateway", () => {
			const budgets = ofKind<KubeObject & { spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } }>("PodDisruptionBudget");
			type Hpa = KubeObject & { spec: { minReplicas: number; scaleTargetRef: { kind: string; name: string }; metrics: { type: string; resource?: { name: string }; pods?: { metric: { name: string } } }[] } };
			const autoscalers = ofKind<Hpa>("HorizontalPodAutoscaler");
			for (const d of deployments) {
				const budget = budgets.filter(b => selects(b.spec.selector.matchLabels, d.spec.template.metadata.labels));
				expect({ deployment: d.metadata.name, budgets: budget.length, minAvailable: budget[0]?.spec.minAvailable }).toEqual({ deployment: d.metadata.name, budgets: 1, minAvailable: 2 });
				const hpa = autoscalers.filter(h => h.spec.scaleTargetRef.kind === "Deployment" && h.spec.scaleTargetRef.name === d.metadata.name);
				expect(hpa).toHaveLength(1);
				expect(hpa[0].spec.minReplicas).toBe(d.spec.replicas);
				expect(hpa[0].spec.metrics).toContainEqual(expect.objectContaining({ type: "Resource", resource: expect.objectContaining({ name: "cpu" }) }));
			}
			const gateway = autoscalers.find(h => h.spec.scaleTargetRef.name === "api");
			expect(gateway?.spec.metrics).toContainEqual(expect.objectContaining({ type: "Pods" }));
		});

		it("keeps API keys and passwords out of ConfigMaps, in the Secret", () => {
			for (const map of ofKind<KubeObject & { data: Record<string, string> }>("ConfigMap")) {
				expect(Object.keys(map.data)).not.toEqual(expect.arrayContaining(["API_KEYS"]));
				expect(Object.keys(map.data)).not.toEqual(expect.arrayContaining(["DATABASE_URL"]));
				for (const value of Object.values(map.data)) expect(value).not.toMatch(/:\/\/[^/@\s]+:[^/@\s]+@/);
			}
			const [secret] = ofKind<KubeObject & { stringData: Record<string, string> }>("Secret");
			expect(Object.keys(secret.stringData).sort()).toEqual(["API_KEYS", "DATABASE_URL"]);
		});

		it("exposes only the gateway: one Service, and NetworkPolicies that open nothing else to the outside", () => {
			const services = ofKind<KubeObject & { spec: { selector: Record<string, string> } }>("Service");
			expect(services.map(s => s.metadata.name)).toEqual(["api"]);
			type Policy = KubeObject & { spec: { podSelector: { matchLabels?: Record<string, string> }; policyTypes: string[]; ingress: { from?: unknown[]; ports?: { port: string | number }[] }[] } };
			const policies = ofKind<Policy>("NetworkPolicy");
			for (const d of deployments) {
				const labels = d.spec.template.metadata.labels;
				const applying = policies.filter(p => p.spec.policyTypes.includes("Ingress") && selects(p.spec.podSelector.matchLabels ?? {}, labels));
				expect({ deployment: d.metadata.name, policies: applying.length > 0 }).toEqual({ deployment: d.metadata.name, policies: true });
				const fromAnywhere = applying.flatMap(p => p.spec.ingress).filter(rule => !rule.from || rule.from.length === 0);
				if (d.metadata.name === "api") expect(fromAnywhere).toEqual([{ ports: [{ protocol: "TCP", port: "http" }] }]);
				else expect({ deployment: d.metadata.name, fromAnywhere }).toEqual({ deployment: d.metadata.name, fromAnywhere: [] });
			}
		});

		it("lets Prometheus find every pod's metrics port", () => {
			for (const d of deployments) {
				const [container] = d.spec.template.spec.containers as Container[];
				const metricsPort = container.ports.find((p: Container) => p.name === "metrics").containerPort;
				expect(d.spec.template.metadata.annotations).toMatchObject({ "prometheus.io/scrape": "true", "prometheus.io/port": String(metricsPort) });
				expect(String(metricsPort)).toBe(config.data.METRICS_PORT);
			}
			expect(config.data.METRICS_HOST).toBe("0.0.0.0");
		});
	});
});
