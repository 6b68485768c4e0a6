/**
 * The Grafana dashboards and provisioning of config/grafana, checked without a Grafana (none
 * can run here): each dashboard against @grafana/schema's types under tsc, every PromQL
 * expression of the dashboards and of the rules file by Prometheus's grammar, and the
 * provisioning against the dashboards and docker-compose.yml. Each check also runs on a
 * copy broken on purpose, so a check that stops catching anything fails.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { dashboardQueries, loadDashboards, typeCheckDashboards, type DashboardJson } from "../helpers/grafana";
import { neededMetrics, projectRules, promqlErrors, selectedMetrics, threshold } from "../helpers/promql";

const GRAFANA = join(__dirname, "../../config/grafana");
const dashboards = loadDashboards();
const copy = (dashboard: DashboardJson): DashboardJson => structuredClone(dashboard);
const first = () => copy([...dashboards.values()][0]);

describe("the Grafana dashboards", () => {
	it("has one dashboard per question, each with a uid of its own", () => {
		expect([...dashboards.keys()]).toEqual(["pi-business.json", "pi-cache.json", "pi-events.json", "pi-nodes.json", "pi-red.json"]);
		for (const [file, dashboard] of dashboards) expect(`${dashboard.uid}.json`).toBe(file);
	});

	it("type-checks every dashboard against @grafana/schema, and rejects an unknown field, a wrong type, an unknown option and a wrong enum value", () => {
		const unknownField = first();
		Object.assign(unknownField.panels[0], { descripton: "misspelt" });
		const wrongType = first();
		Object.assign(wrongType.panels[0], { gridPos: { ...(wrongType.panels[0].gridPos as object), w: "12" } });
		const unknownOption = copy(dashboards.get("pi-red.json")!);
		const timeseries = unknownOption.panels.find(p => p.type === "timeseries")!;
		timeseries.options = { ...timeseries.options, legend: { displayMode: "list", placement: "bottom", showLegend: true, calcs: [], sortBY: "Max" } };
		const wrongEnum = first();
		(wrongEnum.panels[0].fieldConfig!.defaults as { thresholds: { mode: string } }).thresholds.mode = "absolut";

		const errors = typeCheckDashboards({ ...Object.fromEntries(dashboards), unknownField, wrongType, unknownOption, wrongEnum });
		for (const file of dashboards.keys()) expect({ file, errors: errors[file] }).toEqual({ file, errors: [] });
		expect(errors.unknownField).toEqual([expect.stringMatching(/error TS2353: .*'"descripton"' does not exist/)]);
		expect(errors.wrongType).toEqual([expect.stringMatching(/error TS2322: Type 'string' is not assignable to type 'number'/)]);
		expect(errors.unknownOption).toEqual([expect.stringMatching(/error TS2353: .*'"sortBY"' does not exist/)]);
		expect(errors.wrongEnum).toEqual([expect.stringMatching(/error TS2820: Type '"absolut"' is not assignable to type '"absolute" \| "percentage"'/)]);
	});

	it("parses every expression of every panel and template variable, each naming only variables the dashboard defines; and catches a broken one", () => {
		const broken = first();
		broken.panels[0].targets![0].expr = "sum(rate(http_requests_total{route=~\"$route\"}[$__rate_interval])";
		const problems = (dashboard: DashboardJson) =>
			dashboardQueries(dashboard).flatMap(query => {
				const errors = [...promqlErrors(query.expr), ...query.unknownVariables.map(name => `unknown variable $${name}`)];
				return errors.length > 0 ? [{ where: query.where, errors }] : [];
			});
		for (const dashboard of dashboards.values()) expect(problems(dashboard)).toEqual([]);
		expect(problems(broken)).toEqual([{ where: expect.stringContaining(broken.panels[0].title), errors: [expect.stringMatching(/^at \d+/), "unknown variable $route"] }]);
	});

	it("gives every panel a title, a description saying what bad looks like, and the dashboard's data source variable; every query a metric", () => {
		for (const dashboard of dashboards.values()) {
			expect(new Set(dashboard.panels.map(p => p.id)).size).toBe(dashboard.panels.length);
			for (const panel of dashboard.panels) {
				const where = `${dashboard.uid} / ${panel.title}`;
				expect({ where, description: panel.description }).toEqual({ where, description: expect.stringMatching(/Bad: /) });
				expect({ where, datasource: panel.datasource }).toEqual({ where, datasource: { type: "prometheus", uid: "${datasource}" } });
				for (const target of panel.targets ?? []) expect({ where, datasource: target.datasource, refId: target.refId }).toEqual({ where, datasource: panel.datasource, refId: expect.any(String) });
			}
			for (const query of dashboardQueries(dashboard)) expect({ where: query.where, metrics: selectedMetrics(query.expr).length > 0 }).toEqual({ where: query.where, metrics: true });
		}
	});

	it("draws each alert's threshold on the panels that show the alert's own figure", () => {
		const alerts = projectRules().flatMap(rule => {
			const compared = rule.alert ? threshold(rule.expr) : undefined;
			return compared ? [{ alert: rule.alert!, ...compared }] : [];
		});
		// A panel shows an alert's figure when one of its queries is the alert's left side, or selects it (a recording rule).
		const drawn = [...dashboards.values()].flatMap(dashboard =>
			dashboard.panels.flatMap(panel => {
				const queries = dashboardQueries(dashboard).filter(query => query.panel === panel);
				const steps = ((panel.fieldConfig?.defaults as { thresholds?: { steps: { value: number | null }[] } }).thresholds?.steps ?? []).map(step => step.value);
				return alerts
					.filter(alert => queries.some(query => query.expr === alert.left || selectedMetrics(query.expr).includes(alert.left)))
					.map(alert => ({ panel: `${dashboard.uid} / ${panel.title}`, alert: alert.alert, steps }));
			})
		);
		expect(drawn.map(d => d.alert).sort()).toEqual(["HighErrorRate", "HighLatencyP95", "LowCacheHitRatio"]);
		for (const { panel, alert, steps } of drawn) expect({ panel, steps }).toEqual({ panel, steps: expect.arrayContaining([alerts.find(a => a.alert === alert)!.value]) });
	});

	it("names only recording rules that exist (a name with a colon is one)", () => {
		const recorded = new Set(projectRules().flatMap(rule => (rule.record ? [rule.record] : [])));
		const unknown = [...dashboards.values()].flatMap(dashboard => dashboardQueries(dashboard).flatMap(query => selectedMetrics(query.expr).filter(name => name.includes(":") && !recorded.has(name)).map(name => `${query.where}: ${name}`)));
		expect(unknown).toEqual([]);
	});

	it("selects its data source, namespaces and nodes by template variables", () => {
		for (const dashboard of dashboards.values()) {
			const [datasource, namespace, node] = dashboard.templating.list;
			expect(datasource).toMatchObject({ name: "datasource", type: "datasource", query: "prometheus" });
			expect(namespace).toMatchObject({ name: "namespace", type: "query", includeAll: true, multi: true, datasource: { uid: "${datasource}" } });
			expect(node).toMatchObject({ name: "node_id", type: "query", includeAll: true, multi: true, datasource: { uid: "${datasource}" } });
		}
	});
});

describe("reading PromQL", () => {
	it("takes the metrics an expression selects from its parse tree: not functions, labels, label values or grouping", () => {
		expect(selectedMetrics('sum by (route) (rate(http_requests_total{route="/api/v1/products", status_class="5xx"}[5m])) / on() group_left vector(1) + count({__name__="up"})')).toEqual(["http_requests_total", "up"]);
		expect(selectedMetrics("histogram_quantile(0.95, sum by (le) (rate(rate_bucket[5m]))) > bool 0.2")).toEqual(["rate_bucket"]);
		expect(() => selectedMetrics('{__name__=~"http_.*"}')).toThrow(/names no metric/);
		expect(() => selectedMetrics("sum(rate(x[5m])")).toThrow(/does not parse/);
	});

	it("resolves a recording rule's name to the metrics its expression needs", () => {
		const rules = [
			{ record: "job:a:rate5m", expr: "sum(rate(a_total[5m]))" },
			{ record: "job:ab:ratio", expr: "job:a:rate5m / sum(rate(b_total[5m]))" },
			{ alert: "Low", expr: "job:ab:ratio < 0.8" }
		];
		expect(neededMetrics("job:ab:ratio < 0.8 and c", rules)).toEqual(["a_total", "b_total", "c"]);
		expect(() => neededMetrics("loop", [{ record: "loop", expr: "loop + 1" }])).toThrow(/loop -> loop/);
	});

	it("reads an alert's threshold when the alert compares a figure with a number", () => {
		expect(threshold("job:cache_hit_ratio:rate10m < 0.8")).toEqual({ left: "job:cache_hit_ratio:rate10m", op: "<", value: 0.8 });
		expect(threshold("max by (consumer, topic) (kafka_consumer_lag_messages) > 1000")).toEqual({ left: "max by (consumer, topic) (kafka_consumer_lag_messages)", op: ">", value: 1000 });
		expect(threshold("a > 1 and b > 2")).toBeUndefined();
		expect(threshold('up{job="x"} == 0')).toBeUndefined();
	});
});

describe("the rules file's expressions", () => {
	it("all parse by Prometheus's grammar, and a broken one does not", () => {
		const rules = projectRules();
		expect(rules.length).toBeGreaterThan(10);
		expect(rules.map(rule => ({ rule: rule.record ?? rule.alert, errors: promqlErrors(rule.expr) })).filter(r => r.errors.length > 0)).toEqual([]);
		expect(promqlErrors("max(inventory_low_stock_products) >")).toEqual([expect.stringMatching(/^at 35/)]);
	});
});

describe("the Grafana provisioning", () => {
	const datasources = parse(readFileSync(join(GRAFANA, "provisioning/datasources/prometheus.yml"), "utf8")) as { datasources: { uid: string; type: string }[] };
	const providers = parse(readFileSync(join(GRAFANA, "provisioning/dashboards/product-inventory.yml"), "utf8")) as { providers: { type: string; options: { path: string } }[] };
	const compose = parse(readFileSync(join(__dirname, "../../docker-compose.yml"), "utf8")) as { services: Record<string, { volumes?: string[] }> };

	it("provisions the data source every dashboard selects by default", () => {
		const [prometheus] = datasources.datasources;
		for (const dashboard of dashboards.values()) {
			const { current } = dashboard.templating.list.find(v => v.name === "datasource")!;
			expect({ dashboard: dashboard.uid, uid: current?.value, type: "prometheus" }).toEqual({ dashboard: dashboard.uid, uid: prometheus.uid, type: prometheus.type });
		}
	});

	it("loads the dashboards from where docker-compose mounts config/grafana/dashboards, next to the provisioning", () => {
		const [provider] = providers.providers;
		expect(provider.type).toBe("file");
		const volumes = compose.services.grafana.volumes ?? [];
		expect(volumes).toContain(`./config/grafana/dashboards:${provider.options.path}:ro`);
		expect(volumes).toContain("./config/grafana/provisioning:/etc/grafana/provisioning:ro");
	});
});
