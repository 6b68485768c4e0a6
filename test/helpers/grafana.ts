/**
 * The Grafana dashboards of config/grafana/dashboards, read the way Grafana reads them: the
 * PromQL each panel and template variable sends (after Grafana's interpolation of its
 * variables), and a type check of each file against @grafana/schema's dashboard and panel
 * types, since no Grafana can run here to load them.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { typeCheckModules } from "./type-check";

export const DASHBOARDS_DIR = join(__dirname, "../../config/grafana/dashboards");

interface Target {
	refId?: string;
	expr?: string;
	datasource?: { type?: string; uid?: string };
}
export interface DashboardPanel {
	id: number;
	type: string;
	title: string;
	description?: string;
	datasource?: { type?: string; uid?: string };
	targets?: Target[];
	options?: Record<string, unknown>;
	fieldConfig?: { defaults?: { custom?: Record<string, unknown> } };
	[field: string]: unknown;
}
export interface TemplateVariable {
	name: string;
	type: string;
	query?: string | { query?: string };
	datasource?: { type?: string; uid?: string };
	current?: { value?: unknown };
	allValue?: string;
	[field: string]: unknown;
}
export interface DashboardJson {
	uid: string;
	title: string;
	panels: DashboardPanel[];
	templating: { list: TemplateVariable[] };
	[field: string]: unknown;
}

/** Every dashboard file, by file name. */
export function loadDashboards(dir = DASHBOARDS_DIR): Map<string, DashboardJson> {
	const files = readdirSync(dir).filter(file => file.endsWith(".json")).sort();
	return new Map(files.map(file => [file, JSON.parse(readFileSync(join(dir, file), "utf8")) as DashboardJson]));
}

/** Grafana's own variables, with a value of the kind Grafana puts there (a duration for a range). */
const BUILT_IN: Record<string, string> = { __rate_interval: "1m", __interval: "1m", __range: "1h", __range_s: "3600" };

export interface Query {
	/** Where the expression is: `<dashboard uid> / <panel title> / <refId>` or `/ variable <name>`. */
	where: string;
	/** The PromQL Grafana sends, with every variable replaced as Grafana would. */
	expr: string;
	/** Variables the expression names that neither Grafana nor the dashboard defines. */
	unknownVariables: string[];
	/** The panel whose target it is (none for a variable's query). */
	panel?: DashboardPanel;
}

/**
 * Replaces `$name`, `${name}` and `[[name]]` as Grafana does: its built-in variables by a
 * duration, the dashboard's query variables by their "All" value.
 */
function interpolate(expr: string, variables: TemplateVariable[]): { expr: string; unknown: string[] } {
	const unknown: string[] = [];
	const valueOf = (name: string) => {
		if (name in BUILT_IN) return BUILT_IN[name];
		const variable = variables.find(v => v.name === name);
		if (variable) return variable.allValue ?? ".*";
		unknown.push(name);
		return name;
	};
	const replaced = expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (_, braced, plain, old) => valueOf(braced ?? plain ?? old));
	return { expr: replaced, unknown };
}

/** The PromQL a template variable's query runs: the selector of `label_values(<selector>, <label>)`, or the expression of `query_result(...)`. */
function variablePromql(query: string): string | undefined {
	const labelValues = /^label_values\((.*),\s*\w+\s*\)$/s.exec(query.trim());
	if (labelValues) return labelValues[1];
	const result = /^query_result\((.*)\)$/s.exec(query.trim());
	if (result) return result[1];
	return undefined;
}

/** Every PromQL expression of a dashboard: its panels' targets and its query variables. */
export function dashboardQueries(dashboard: DashboardJson): Query[] {
	const variables = dashboard.templating.list;
	const queries: Query[] = [];
	const add = (where: string, raw: string, panel?: DashboardPanel) => {
		const { expr, unknown } = interpolate(raw, variables);
		queries.push({ where: `${dashboard.uid} / ${where}`, expr, unknownVariables: unknown, panel });
	};
	for (const panel of dashboard.panels)
		for (const target of panel.targets ?? []) add(`${panel.title} / ${target.refId}`, target.expr ?? "", panel);
	for (const variable of variables.filter(v => v.type === "query")) {
		const query = typeof variable.query === "string" ? variable.query : (variable.query?.query ?? "");
		const promql = variablePromql(query);
		add(`variable ${variable.name}`, promql ?? `unsupported variable query: ${query}`);
	}
	return queries;
}

/**
 * The panel types the dashboards use: the @grafana/schema module of each one's options, and
 * whether the type has a custom field config (a stat has none).
 */
const PANEL_TYPES: Record<string, { module: string; custom: boolean }> = {
	timeseries: { module: "@grafana/schema/dist/types/raw/composable/timeseries/panelcfg/x/types.gen", custom: true },
	stat: { module: "@grafana/schema/dist/types/raw/composable/stat/panelcfg/x/types.gen", custom: false }
};

/**
 * A module in which the dashboard `satisfies` @grafana/schema's Dashboard (unknown fields,
 * wrong types), and each panel's options and custom field config satisfy its panel type's
 * `Options` and `FieldConfig` (both partial: Grafana fills in the rest from the plugin's
 * defaults). The schema's enums are compared by their values, as JSON holds them.
 */
export function dashboardModule(dashboard: DashboardJson): string {
	const imports = Object.entries(PANEL_TYPES).map(([type, { module }]) => `import type * as ${type} from "${module}";`);
	const panels = dashboard.panels.map(panel => {
		if (!(panel.type in PANEL_TYPES)) throw new Error(`${dashboard.uid} / ${panel.title}: no @grafana/schema panel type for "${panel.type}" (add it to PANEL_TYPES)`);
		const typed = { options: panel.options ?? {}, custom: panel.fieldConfig?.defaults?.custom ?? {} };
		const custom = PANEL_TYPES[panel.type].custom ? `Loose<${panel.type}.FieldConfig>` : "Record<string, never>";
		return `// ${panel.title}\nexport const panel${panel.id} = ${JSON.stringify(typed, null, "\t")} satisfies { options: Loose<${panel.type}.Options>; custom: ${custom} };`;
	});
	return [
		`import type { Dashboard } from "@grafana/schema";`,
		...imports,
		"",
		"/** JSON's view of a schema type: an enum member is its value. */",
		"type Json<T> = T extends string ? `${T}` : T extends readonly (infer U)[] ? Json<U>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T;",
		"/** The same, with every field optional. */",
		"type Loose<T> = T extends string ? `${T}` : T extends readonly (infer U)[] ? Loose<U>[] : T extends object ? { [K in keyof T]?: Loose<T[K]> } : T;",
		"",
		`export const dashboard = ${JSON.stringify(dashboard, null, "\t")} satisfies Json<Dashboard>;`,
		...panels,
		""
	].join("\n");
}

/** tsc's errors for each dashboard (by name), empty when it type-checks. */
export function typeCheckDashboards(dashboards: Record<string, DashboardJson>): Record<string, string[]> {
	const modules = Object.fromEntries(Object.entries(dashboards).map(([name, dashboard]) => [name.replace(/\W/g, "_"), dashboardModule(dashboard)]));
	const errors = typeCheckModules("grafana-schema-check", modules);
	return Object.fromEntries(Object.keys(dashboards).map(name => [name, errors[name.replace(/\W/g, "_")]]));
}
