/**
 * fastest-validator rules, as the `params` of an action declare them, read as JSON Schema
 * (OpenAPI 3.1). A rule's `openapi` adds keywords its checks cannot say as a rule (money's
 * `custom` check of two decimals).
 */
import type { JsonSchema } from "../../lib/json-schema";


type Rule = Record<string, unknown>;

/** The JSON Schema of one fastest-validator rule (shorthand string, object, or array of alternatives). */
export function ruleToSchema(rule: unknown): JsonSchema {
	const normalized = normalizeRule(rule);
	if (Array.isArray(normalized)) {
		const schema: JsonSchema = { oneOf: normalized.map(ruleToSchema) };
		return normalized.every(r => (normalizeRule(r) as Rule).nullable === true) ? nullable(schema) : schema;
	}
	let schema = typeSchema(normalized);
	if (normalized.openapi && typeof normalized.openapi === "object") Object.assign(schema, normalized.openapi);
	if (normalized.nullable === true) schema = nullable(schema);
	if (normalized.default !== undefined && typeof normalized.default !== "function") schema.default = normalized.default;
	return schema;
}

/** Whether a missing value fails this rule: as in fastest-validator, a default fills it, and alternatives are optional only when all are. */
export function isRequired(rule: unknown): boolean {
	const normalized = normalizeRule(rule);
	if (Array.isArray(normalized)) return !normalized.every(r => (normalizeRule(r) as Rule).optional === true);
	return normalized.optional !== true && normalized.default === undefined;
}

function normalizeRule(rule: unknown): Rule | unknown[] {
	if (typeof rule === "string") return parseShorthand(rule);
	if (Array.isArray(rule)) return rule;
	if (!rule || typeof rule !== "object") return {};
	const { $$type, ...props } = rule as Rule;
	return typeof $$type === "string" ? { ...parseShorthand($$type), props } : (rule as Rule);
}

// "string|min:3|optional", "number|no-convert", "string[]", as fastest-validator reads them.
function parseShorthand(text: string): Rule {
	const [type, ...flags] = text.split("|").map(s => s.trim());
	const rule: Rule = type.endsWith("[]") ? { type: "array", items: type.slice(0, -2) } : { type };
	for (const flag of flags) {
		const colon = flag.indexOf(":");
		if (colon === -1) rule[flag.startsWith("no-") ? flag.slice(3) : flag] = !flag.startsWith("no-");
		else rule[flag.slice(0, colon).trim()] = shorthandValue(flag.slice(colon + 1).trim());
	}
	return rule;
}

function shorthandValue(value: string): unknown {
	if (value === "true" || value === "false") return value === "true";
	return Number.isNaN(Number(value)) ? value : Number(value);
}

function typeSchema(rule: Rule): JsonSchema {
	switch (rule.type) {
		case "string":
			return stringSchema(rule);
		case "uuid":
			return { type: "string", format: "uuid" };
		case "email":
			return { type: "string", format: "email" };
		case "url":
			return { type: "string", format: "uri" };
		case "date":
			return { type: "string", format: "date-time" };
		case "boolean":
			return { type: "boolean" };
		case "number":
			return numberSchema(rule);
		case "enum":
			return enumSchema(Array.isArray(rule.values) ? rule.values : []);
		case "array":
			return arraySchema(rule);
		case "object": {
			const props = rule.props ?? rule.properties;
			return props && typeof props === "object" ? objectSchema(props as Rule, rule.strict === true) : { type: "object" };
		}
		case "multi":
			return Array.isArray(rule.rules) ? { oneOf: rule.rules.map(ruleToSchema) } : {};
		default:
			return {};
	}
}

function stringSchema(rule: Rule): JsonSchema {
	const schema: JsonSchema = { type: "string" };
	const min = rule.length ?? rule.min ?? (rule.empty === false ? 1 : undefined);
	const max = rule.length ?? rule.max;
	if (typeof min === "number") schema.minLength = min;
	if (typeof max === "number") schema.maxLength = max;
	const pattern = patternOf(rule.pattern);
	if (pattern !== undefined) schema.pattern = pattern;
	if (Array.isArray(rule.enum)) schema.enum = rule.enum;
	return schema;
}

// A RegExp that crossed a transporter arrives as `{}`; flags JSON Schema cannot carry would make the pattern lie.
function patternOf(pattern: unknown): string | undefined {
	if (typeof pattern === "string") return pattern;
	if (pattern instanceof RegExp && !/[ims]/.test(pattern.flags)) return pattern.source;
	return undefined;
}

function numberSchema(rule: Rule): JsonSchema {
	const schema: JsonSchema = { type: rule.integer === true ? "integer" : "number" };
	if (typeof rule.min === "number") schema.minimum = rule.min;
	if (typeof rule.max === "number") schema.maximum = rule.max;
	if (rule.positive === true) schema.exclusiveMinimum = 0;
	if (rule.negative === true) schema.exclusiveMaximum = 0;
	return schema;
}

function enumSchema(values: unknown[]): JsonSchema {
	return values.every(v => typeof v === "string") ? { type: "string", enum: values } : { enum: values };
}

function arraySchema(rule: Rule): JsonSchema {
	const schema: JsonSchema = { type: "array" };
	if (rule.items !== undefined) schema.items = ruleToSchema(rule.items);
	const min = rule.length ?? rule.min ?? (rule.empty === false ? 1 : undefined);
	const max = rule.length ?? rule.max;
	if (typeof min === "number") schema.minItems = min;
	if (typeof max === "number") schema.maxItems = max;
	if (rule.unique === true) schema.uniqueItems = true;
	return schema;
}

/** The JSON Schema of an object whose properties are these rules; `strict` forbids other properties. */
export function objectSchema(props: Rule, strict: boolean): JsonSchema {
	const keys = Object.keys(props).filter(key => !key.startsWith("$$"));
	const required = keys.filter(key => isRequired(props[key]));
	return {
		type: "object",
		properties: Object.fromEntries(keys.map(key => [key, ruleToSchema(props[key])])),
		...(required.length ? { required } : {}),
		...(strict ? { additionalProperties: false } : {})
	};
}

function nullable(schema: JsonSchema): JsonSchema {
	if (Array.isArray(schema.oneOf)) return { ...schema, oneOf: [...schema.oneOf, { type: "null" }] };
	if (typeof schema.type !== "string" && !Array.isArray(schema.enum)) return schema;
	return {
		...schema,
		...(typeof schema.type === "string" ? { type: [schema.type, "null"] } : {}),
		...(Array.isArray(schema.enum) ? { enum: [...schema.enum, null] } : {})
	};
}
