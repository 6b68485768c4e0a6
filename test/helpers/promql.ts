/**
 * PromQL read by Prometheus's own grammar (@prometheus-io/lezer-promql, the parser of
 * Prometheus's web UI): whether an expression parses, and which metrics it selects, taken
 * from the parse tree's vector selectors, not guessed from the text.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parser } from "@prometheus-io/lezer-promql";
import { parse } from "yaml";

type SyntaxNode = NonNullable<ReturnType<ReturnType<typeof parser.parse>["topNode"]["getChild"]>>;

export const RULES_FILE = join(__dirname, "../../config/prometheus/rules/product-inventory.rules.yml");

/** The parse errors of an expression, each as "at <offset>: <text there>"; empty when it parses. */
export function promqlErrors(expr: string): string[] {
	const errors: string[] = [];
	if (expr.trim() === "") return ["empty expression"];
	parser.parse(expr).iterate({
		enter: node => {
			if (node.type.isError) errors.push(`at ${node.from}: ${JSON.stringify(expr.slice(node.from, node.from + 20))}`);
		}
	});
	return errors;
}

/** The metric names an expression selects (`rate(a[5m]) / b` selects a and b), sorted. */
export function selectedMetrics(expr: string): string[] {
	const errors = promqlErrors(expr);
	if (errors.length > 0) throw new Error(`${expr} does not parse: ${errors.join(", ")}`);
	const names = new Set<string>();
	const text = (node: SyntaxNode) => expr.slice(node.from, node.to);
	parser.parse(expr).iterate({
		enter: ref => {
			if (ref.name !== "VectorSelector") return;
			const name = ref.node.getChild("Identifier");
			if (name) names.add(text(name));
			// {__name__="x"} selects by name too; a regex on the name would select what is there.
			for (const matcher of ref.node.getChild("LabelMatchers")?.getChildren("UnquotedLabelMatcher") ?? []) {
				if (text(matcher.getChild("LabelName")!) !== "__name__") continue;
				if (!matcher.getChild("MatchOp")?.getChild("EqlSingle")) throw new Error(`${expr}: a __name__ matcher other than = names no metric`);
				names.add(JSON.parse(text(matcher.getChild("StringLiteral")!)) as string);
			}
		}
	});
	return [...names].sort();
}

/** An expression of the form `<left> > <number>` (or <, >=, <=), as most alerts are; undefined for any other. */
export function threshold(expr: string): { left: string; op: string; value: number } | undefined {
	if (promqlErrors(expr).length > 0) return undefined;
	const top = parser.parse(expr).topNode.firstChild;
	if (top?.name !== "BinaryExpr") return undefined;
	const [left, op, right] = [top.firstChild, top.firstChild?.nextSibling, top.lastChild];
	if (!left || !op || !right || right.name !== "NumberDurationLiteral" || !["Gtr", "Lss", "Gte", "Lte"].includes(op.name)) return undefined;
	return { left: expr.slice(left.from, left.to), op: expr.slice(op.from, op.to), value: Number(expr.slice(right.from, right.to)) };
}

export interface Rule {
	record?: string;
	alert?: string;
	expr: string;
}

/** Every rule of the project's rules file. */
export function projectRules(file = RULES_FILE): Rule[] {
	const rules = parse(readFileSync(file, "utf8")) as { groups: { rules: Rule[] }[] };
	return rules.groups.flatMap(group => group.rules);
}

/**
 * The exported metrics an expression needs: the metrics it selects, with each recording
 * rule's name replaced by what its own expression needs (recording rules are Prometheus's,
 * not a node's).
 */
export function neededMetrics(expr: string, rules: Rule[]): string[] {
	const recorded = new Map(rules.flatMap(rule => (rule.record ? [[rule.record, rule.expr] as const] : [])));
	const needed = new Set<string>();
	const visit = (e: string, seen: string[]) => {
		for (const name of selectedMetrics(e)) {
			const recordedExpr = recorded.get(name);
			if (recordedExpr === undefined) needed.add(name);
			else if (seen.includes(name)) throw new Error(`recording rules refer to each other in a loop: ${[...seen, name].join(" -> ")}`);
			else visit(recordedExpr, [...seen, name]);
		}
	};
	visit(expr, []);
	return [...needed].sort();
}
