/**
 * The Prometheus configuration in config/prometheus: both scrape configurations load, the
 * rules are valid, and every alert does what its unit test says (`promtool test rules`).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { requiredTool } from "../helpers/tools";

const DIR = join(__dirname, "../../config/prometheus");
const promtool = requiredTool(["promtool"], "apt-get install -y --no-install-recommends prometheus");

function run(...args: string[]) {
	const result = spawnSync(promtool!, args, { cwd: DIR, encoding: "utf8" });
	return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

interface RuleFile {
	groups: { rules: { alert?: string; record?: string }[] }[];
}
interface RuleTests {
	tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

(promtool ? describe : describe.skip)("the Prometheus rules and configuration", () => {
	it("loads the compose configuration and its rules", () => {
		const check = run("check", "config", "prometheus.yml");
		expect(check).toMatchObject({ status: 0 });
		expect(check.output).toContain("SUCCESS");
	});

	it("passes every unit test of the rules", () => {
		const test = run("test", "rules", "rules/product-inventory.test.yml");
		expect(test.output).toContain("SUCCESS");
		expect(test).toMatchObject({ status: 0 });
	});

	it("tests every alert firing, and the error-rate and burn alerts also staying quiet", () => {
		const rules = parse(readFileSync(join(DIR, "rules/product-inventory.rules.yml"), "utf8")) as RuleFile;
		const tests = parse(readFileSync(join(DIR, "rules/product-inventory.test.yml"), "utf8")) as RuleTests;
		const alerts = rules.groups.flatMap(g => g.rules.flatMap(r => (r.alert ? [r.alert] : [])));
		const cases = tests.tests.flatMap(t => t.alert_rule_test ?? []);
		const firing = new Set(cases.filter(c => c.exp_alerts.length > 0).map(c => c.alertname));
		const quiet = new Set(cases.filter(c => c.exp_alerts.length === 0).map(c => c.alertname));
		expect(alerts.filter(alert => !firing.has(alert))).toEqual([]);
		for (const alert of ["HighErrorRate", "AvailabilityBudgetBurnFast"]) expect(quiet.has(alert)).toBe(true);
	});

	it("scrapes the pods of k8s/ by their annotations, with the same rules", () => {
		// Debian's promtool is built without Kubernetes discovery, so this file is checked by its shape.
		const config = parse(readFileSync(join(DIR, "prometheus-kubernetes.yml"), "utf8")) as {
			rule_files: string[];
			scrape_configs: { kubernetes_sd_configs: { role: string; namespaces: { names: string[] } }[]; relabel_configs: { source_labels?: string[]; action?: string }[] }[];
		};
		expect(config.rule_files).toEqual(["rules/product-inventory.rules.yml"]);
		const [job] = config.scrape_configs;
		expect(job.kubernetes_sd_configs).toEqual([{ role: "pod", namespaces: { names: ["product-inventory"] } }]);
		expect(job.relabel_configs[0]).toMatchObject({ source_labels: ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"], action: "keep" });
		const annotated = readFileSync(join(__dirname, "../../k8s/node-pod.yaml"), "utf8");
		for (const annotation of ["prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path"]) expect(annotated).toContain(annotation);
	});
});
