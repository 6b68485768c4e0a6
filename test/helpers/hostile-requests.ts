/**
 * Hostile HTTP requests for every operation of an OpenAPI document, as fast-check
 * arbitraries: a request starts from values the operation's own schemas allow and is then
 * made hostile (wrong types, nulls, huge or odd numbers, long or ill-formed strings, extra
 * or dangerous properties, arrays for objects, bodies that are not JSON or not what their
 * Content-Type and Content-Encoding say, path ids that are not ids, another method).
 *
 * Ids of things that exist are not known when a request is generated: an id is written as
 * a placeholder (`{{product:3}}`) and chosen among what exists when it is sent (`resolve`).
 */
import fc from "fast-check";
import { gzipSync } from "node:zlib";
import type { OpenApiDocument } from "../../services/api/openapi";

type Json = Record<string, any>;

export type IdKind = "product" | "purchase";

export interface HostileRequest {
	/** The operation it was made from ("post /api/v1/products"). */
	operation: string;
	method: string;
	/** Path and query, with id placeholders. */
	path: string;
	headers: Record<string, string>;
	/** The body's text with id placeholders, before any Content-Encoding; undefined for none. */
	body?: string;
	/** How the body is sent: as it is, compressed as its Content-Encoding says, or as bytes that are not UTF-8. */
	bodyForm: "plain" | "gzip" | "not-utf8";
	/** What was made hostile, for the failure message. */
	changes: string[];
}

const placeholder = (kind: IdKind, index: number) => `{{${kind}:${index}}}`;
const PLACEHOLDER = /\{\{(product|purchase):(\d+)\}\}/g;

/** The request's text with each placeholder replaced by an id of that kind that exists (or a fresh uuid when none does). */
export function resolve(text: string, ids: Record<IdKind, string[]>, fresh: () => string): string {
	return text.replace(PLACEHOLDER, (_match, kind: IdKind, index: string) => {
		const pool = ids[kind];
		return pool.length > 0 ? pool[Number(index) % pool.length] : fresh();
	});
}

/** The bytes of a request's body as they go on the wire. */
export function bodyBytes(request: HostileRequest, text: string): Buffer {
	if (request.bodyForm === "gzip") return gzipSync(text);
	if (request.bodyForm === "not-utf8") return Buffer.concat([Buffer.from(text.slice(0, text.length >> 1)), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(text.slice(text.length >> 1))]);
	return Buffer.from(text);
}

const LONE_SURROGATES = ["\ud800", "lone \udbff", "\udc00 first", "x\udfffy"];

/** Values no field should take, of every JSON type. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
	fc.constant(null),
	fc.boolean(),
	fc.constantFrom(0, -1, -0, 0.5, 1e-7, 19.999, 2 ** 53 + 1, -(2 ** 53) - 1, 1e308, -1e308, Number.MAX_SAFE_INTEGER, 1_000_000_001),
	fc.double(),
	fc.integer(),
	fc.constantFrom("", " ", "\t\n", "1", "0x10", "1e3", "NaN", "Infinity", "-1", "true", "null", "undefined"),
	fc.constantFrom(...LONE_SURROGATES),
	fc.constantFrom("\u0000", "a\u0000b", "\u202egnp.exe", "\ufeffbom", "\u{1F600}".repeat(201), "x".repeat(2001), "e\u0301".repeat(150)),
	fc.constantFrom("__proto__", "constructor", "' OR '1'='1", "'; DROP TABLE products; --", "%00", "%s%n", "<script>alert(1)</script>", "../../etc/passwd", "${7*7}"),
	fc.string({ unit: "binary", maxLength: 40 }),
	fc.constant([]),
	fc.array(fc.integer(), { maxLength: 3 }),
	fc.constant({}),
	fc.constant({ $gt: "" }),
	fc.constant(JSON.parse('{"__proto__":{"admin":true}}') as unknown),
	fc.integer({ min: 17, max: 40 }).map(depth => nested(depth))
);

function nested(depth: number): unknown {
	let value: unknown = 1;
	for (let i = 0; i < depth; i++) value = [value];
	return value;
}

/** Keys an object should not have. */
const hostileKey = fc.oneof(
	fc.constantFrom("__proto__", "constructor", "prototype", "$where", "id", "version", "\ud800", "", " ", "a.b", "price\u0000"),
	fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 12 })
);

/** A path segment, already percent-encoded, that is not the id it stands for. */
const hostileSegment = fc.oneof(
	fc.constantFrom("not-a-uuid", "1", "0", "-1", "null", "undefined", "%ED%A0%80", "%00", "%2F", "%2e%2e", "..", "%", "%zz", "%C0%AF", "x".repeat(300)),
	fc.constantFrom("00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "6f9619ff-8b86-d011-b42d-00cf4fc964ff-extra"),
	fc.constantFrom("'%20OR%201%3D1--", "%3Cscript%3E", "..%2F..%2Fpackage.json", "package.json", "%2E%2E%2Fopenapi.json"),
	fc.uuid().map(id => id.toUpperCase()),
	fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }).map(text => encodeURIComponent(text))
);

/** A query value, percent-encoded, that is not what the parameter takes. */
const hostileQueryValue = fc.oneof(
	fc.constantFrom("", "0", "-1", "0x10", "1e3", "1.0", "%201", "1%20", "%2B1", "NaN", "Infinity", "99999999999999999999999", "1_000"),
	fc.constantFrom("true", "false", "yes", "on", "TRUE", "null", "%ED%A0%80", "%00", "%FF", "%", "%zz", "x".repeat(2000)),
	fc.string({ unit: "grapheme", maxLength: 30 }).map(text => encodeURIComponent(text))
);

const fresh = fc.uuid();

/** A value the schema allows (most of the time: patterns and cross-field rules are not all kept). */
function allowed(schema: Json, doc: OpenApiDocument, idKind: IdKind): fc.Arbitrary<unknown> {
	if (typeof schema.$ref === "string") return allowed(refTarget(schema.$ref, doc), doc, idKind);
	if (Array.isArray(schema.enum)) return fc.constantFrom(...schema.enum.filter((value: unknown) => value !== null));
	if (Array.isArray(schema.oneOf)) return fc.oneof(...schema.oneOf.map((option: Json) => allowed(option, doc, idKind)));
	const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== "null") : schema.type;
	switch (type) {
		case "string":
			return allowedString(schema, idKind);
		case "integer":
			return fc.integer({ min: Math.max(schema.minimum ?? -1000, -1_000_000_000), max: Math.min(schema.maximum ?? 1000, 1_000_000_000) });
		case "number":
			return fc.integer({ min: 0, max: Math.min((schema.maximum ?? 10_000) * 100, 10_000_000) }).map(cents => cents / 100);
		case "boolean":
			return fc.boolean();
		case "array":
			return fc.array(allowed(schema.items ?? {}, doc, idKind), { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 3, 3) });
		case "object":
			return allowedObject(schema, doc, idKind);
		default:
			return fc.constant("x");
	}
}

function allowedString(schema: Json, idKind: IdKind): fc.Arbitrary<string> {
	if (schema.format === "uuid") return fc.oneof({ weight: 4, arbitrary: fc.nat(20).map(index => placeholder(idKind, index)) }, { weight: 1, arbitrary: fresh });
	if (schema.format === "date-time") return fc.date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2100-01-01T00:00:00Z"), noInvalidDate: true }).map(date => date.toISOString());
	const min = schema.minLength ?? 0;
	const max = Math.min(schema.maxLength ?? 30, 30);
	if (typeof schema.pattern === "string" && schema.pattern !== "\\S")
		return fc.stringMatching(new RegExp(schema.pattern)).filter(text => [...text].length >= min && [...text].length <= (schema.maxLength ?? Infinity));
	const text = fc.string({ unit: fc.oneof(fc.constantFrom("a", "Z", "7", " ", "-", "\u{1F600}", "é"), fc.string({ unit: "grapheme-composite", minLength: 1, maxLength: 1 })), minLength: Math.max(min, 1), maxLength: Math.max(max, 1) });
	return schema.pattern === "\\S" ? text.filter(value => /\S/.test(value)) : text;
}

function allowedObject(schema: Json, doc: OpenApiDocument, idKind: IdKind): fc.Arbitrary<Record<string, unknown>> {
	const properties = (schema.properties ?? {}) as Record<string, Json>;
	const record = Object.fromEntries(Object.entries(properties).map(([name, property]) => [name, allowed(property, doc, idKind)]));
	return fc.record(record, { requiredKeys: (schema.required ?? []) as string[] }) as fc.Arbitrary<Record<string, unknown>>;
}

function refTarget(ref: string, doc: OpenApiDocument): Json {
	const [kind, name] = ref.replace("#/components/", "").split("/");
	return doc.components[kind][name] as Json;
}

type Mutation = (body: unknown, changes: string[]) => unknown;

/** One way to make a body hostile. */
function bodyMutation(schema: Json): fc.Arbitrary<Mutation> {
	const fields = Object.keys((schema.properties ?? {}) as object);
	const field = fields.length > 0 ? fc.constantFrom(...fields) : fc.constant("name");
	return fc.oneof(
		{ weight: 6, arbitrary: fc.tuple(field, hostileValue).map(([name, value]): Mutation => (body, changes) => (changes.push(`${name} = ${show(value)}`), withField(body, name, value))) },
		{ weight: 2, arbitrary: fc.tuple(hostileKey, hostileValue).map(([name, value]): Mutation => (body, changes) => (changes.push(`extra ${show(name)} = ${show(value)}`), withField(body, name, value))) },
		{ weight: 2, arbitrary: field.map((name): Mutation => (body, changes) => (changes.push(`without ${name}`), withoutField(body, name))) },
		{ weight: 1, arbitrary: fc.constantFrom<Mutation>((body, changes) => (changes.push("body in an array"), [body]), (_body, changes) => (changes.push("body []"), [])) },
		{ weight: 1, arbitrary: hostileValue.map((value): Mutation => (_body, changes) => (changes.push(`body = ${show(value)}`), value)) },
		{ weight: 1, arbitrary: fc.constant<Mutation>((body, changes) => (changes.push("items as an object"), withField(body, "items", { 0: { productId: placeholder("product", 0), quantity: 1 } }))) }
	);
}

function withField(body: unknown, name: string, value: unknown): unknown {
	// A computed key makes "__proto__" an own property, as JSON.parse does on the server.
	return body && typeof body === "object" && !Array.isArray(body) ? { ...body, [name]: value } : { [name]: value };
}

function withoutField(body: unknown, name: string): unknown {
	if (!body || typeof body !== "object" || Array.isArray(body)) return body;
	const copy = { ...(body as Record<string, unknown>) };
	delete copy[name];
	return copy;
}

const show = (value: unknown) => {
	const text = JSON.stringify(value) ?? String(value);
	return text.length > 60 ? `${text.slice(0, 60)}…(${text.length})` : text;
};

/** Body text the JSON parser, or the rule that a body is one JSON object, refuses. */
const brokenJson = fc.constantFrom('{"name": "x",', "{", "[", "", "   ", "null", "true", "42", '"text"', "{'name':'x'}", '{"price":NaN}', '{"price":Infinity}', '{"a":1,}', "\ufeff{}", '{"a":"\\x41"}', '{"a":"\\u12"}', "{}{}", '{"__proto__":{"x":1}}');

interface Encoding {
	contentType?: string;
	contentEncoding?: string;
	form: HostileRequest["bodyForm"];
}

const encodings: fc.Arbitrary<Encoding> = fc.oneof(
	{ weight: 12, arbitrary: fc.constant<Encoding>({ contentType: "application/json", form: "plain" }) },
	{ weight: 1, arbitrary: fc.constantFrom<Encoding>({ contentType: "application/json; charset=utf-8", form: "plain" }, { contentType: "APPLICATION/JSON", form: "plain" }) },
	{ weight: 1, arbitrary: fc.constantFrom<Encoding>({ contentType: "application/json", contentEncoding: "gzip", form: "gzip" }, { contentType: "application/json", contentEncoding: "x-gzip", form: "gzip" }) },
	{
		weight: 3,
		arbitrary: fc.constantFrom<Encoding>(
			{ contentType: "text/plain", form: "plain" },
			{ contentType: "application/x-www-form-urlencoded", form: "plain" },
			{ contentType: "application/merge-patch+json", form: "plain" },
			{ contentType: "multipart/form-data; boundary=x", form: "plain" },
			{ contentType: "application/json; charset=iso-8859-1", form: "plain" },
			{ contentType: "application/json; charset=utf-16", form: "plain" },
			{ form: "plain" },
			{ contentType: "application/json", contentEncoding: "br", form: "plain" },
			{ contentType: "application/json", contentEncoding: "deflate", form: "plain" },
			{ contentType: "application/json", contentEncoding: "gzip", form: "plain" },
			{ contentType: "application/json", contentEncoding: "compress", form: "plain" },
			{ contentType: "application/json", contentEncoding: "gzip, br", form: "gzip" },
			{ contentType: "application/json", form: "not-utf8" }
		)
	}
);

const METHODS = ["get", "post", "put", "patch", "delete"];

/** Request headers the gateway reads, sometimes hostile (Node's client only sends Latin-1 without control characters). */
const extraHeaders: fc.Arbitrary<Record<string, string>> = fc.record(
	{
		"X-Request-ID": fc.oneof(fc.constantFrom("req-1", "a b", "x".repeat(101), "../../etc", "é", ""), fc.stringMatching(/^[A-Za-z0-9._:-]{1,20}$/)),
		"Idempotency-Key": fc.oneof(fc.constantFrom("", " ", "x".repeat(201), "é", "key with spaces"), fc.stringMatching(/^[\x21-\x7e]{1,20}$/)),
		Accept: fc.constantFrom("application/json", "text/html", "*/*", "application/xml")
	},
	{ requiredKeys: [] }
);

/** Hostile requests for one operation of the document. */
function requestsFor(doc: OpenApiDocument, template: string, method: string, operation: Json): fc.Arbitrary<HostileRequest> {
	const idKind: IdKind = template.startsWith("/api/v1/purchases/") ? "purchase" : "product";
	const parameters = ((operation.parameters ?? []) as Json[]).map(p => (typeof p.$ref === "string" ? refTarget(p.$ref, doc) : p));
	const pathNames = parameters.filter(p => p.in === "path").map(p => p.name as string);
	const query = parameters.filter(p => p.in === "query");
	const bodySchema = operation.requestBody?.content?.["application/json"]?.schema as Json | undefined;

	const segment = (name: string) =>
		fc.oneof(
			{ weight: 5, arbitrary: name === "file" ? fc.constantFrom("swagger-ui.css", "swagger-ui-bundle.js") : fc.nat(20).map(index => placeholder(idKind, index)) },
			{ weight: 1, arbitrary: fresh },
			{ weight: 3, arbitrary: hostileSegment }
		);
	const pathArb = fc.tuple(...pathNames.map(segment), fc.constant(0)).map(values => pathNames.reduce((path, name, i) => path.replace(`{${name}}`, String(values[i])), template));

	const queryArb = fc
		.tuple(
			...query.map(parameter =>
				fc.oneof(
					{ weight: 3, arbitrary: fc.constant(undefined) },
					// Placeholders stay as they are, to be replaced by an id (which needs no encoding).
					{ weight: 2, arbitrary: allowed(parameter.schema ?? {}, doc, idKind).map(value => (String(value).startsWith("{{") ? String(value) : encodeURIComponent(String(value)))) },
					{ weight: 2, arbitrary: hostileQueryValue }
				)
			),
			fc.oneof(
				{ weight: 6, arbitrary: fc.constant("") },
				{ weight: 1, arbitrary: fc.constantFrom("__proto__[admin]=1", "constructor[prototype][admin]=1", "page=1&page=2", "pageSize[]=5", "q[$gt]=", "extra=1", "%ED%A0%80=1", "a%00b=1") }
			)
		)
		.map(values => {
			const extra = values[query.length] as string;
			const pairs = query.flatMap((parameter, i) => (values[i] === undefined ? [] : [`${parameter.name}=${String(values[i])}`]));
			if (extra) pairs.push(extra);
			return pairs.length ? `?${pairs.join("&")}` : "";
		});

	const body: fc.Arbitrary<{ text?: string; changes: string[] }> = bodySchema
		? fc.oneof(
				{ weight: 1, arbitrary: allowed(bodySchema, doc, idKind).map(value => ({ text: JSON.stringify(value), changes: ["an allowed body"] })) },
				{
					weight: 6,
					arbitrary: fc.tuple(allowed(bodySchema, doc, idKind), fc.array(bodyMutation(bodySchema), { minLength: 1, maxLength: 3 })).map(([value, mutations]) => {
						const changes: string[] = [];
						const mutated = mutations.reduce((current, mutate) => mutate(current, changes), value);
						return { text: JSON.stringify(mutated) ?? "null", changes };
					})
				},
				{ weight: 1, arbitrary: brokenJson.map(text => ({ text, changes: [`body text ${show(text)}`] })) },
				{ weight: 1, arbitrary: fc.constant<{ text?: string; changes: string[] }>({ text: undefined, changes: ["no body"] }) }
			)
		: fc.oneof(
				{ weight: 6, arbitrary: fc.constant({ text: undefined, changes: [] as string[] }) },
				{ weight: 1, arbitrary: fc.oneof(brokenJson, hostileValue.map(value => JSON.stringify(value) ?? "null")).map(text => ({ text, changes: [`a body ${show(text)} where none is taken`] })) }
			);

	const methodArb = fc.oneof({ weight: 12, arbitrary: fc.constant(method) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) });

	return fc.record({ path: pathArb, query: queryArb, body, encoding: encodings, headers: extraHeaders, method: methodArb }).map(({ path, query, body, encoding, headers, method: sent }) => {
		const all: Record<string, string> = { ...headers };
		const changes = [...body.changes];
		if (body.text !== undefined) {
			if (encoding.contentType) all["Content-Type"] = encoding.contentType;
			if (encoding.contentEncoding) all["Content-Encoding"] = encoding.contentEncoding;
			if (encoding.contentType !== "application/json" || encoding.contentEncoding || encoding.form !== "plain")
				changes.push(`sent as ${encoding.contentType ?? "no Content-Type"}${encoding.contentEncoding ? `, ${encoding.contentEncoding}` : ""}${encoding.form === "not-utf8" ? ", not UTF-8" : ""}`);
		}
		if (sent !== method) changes.push(`method ${sent.toUpperCase()}`);
		return {
			operation: `${method} ${template}`,
			method: sent.toUpperCase(),
			path: path + query,
			headers: all,
			body: body.text,
			bodyForm: body.text === undefined ? "plain" : encoding.form,
			changes
		};
	});
}

/**
 * Hostile requests for every operation of the document, each operation as likely as any
 * other. Operations are taken in sorted order, so a seed gives the same requests whatever
 * order the services registered in.
 */
export function hostileRequests(doc: OpenApiDocument): fc.Arbitrary<HostileRequest> {
	const byName = <T>(entries: [string, T][]) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
	const all = byName(Object.entries(doc.paths)).flatMap(([template, item]) =>
		byName(Object.entries(item as Record<string, Json>)).map(([method, operation]) => requestsFor(doc, template, method, operation))
	);
	return fc.oneof(...all);
}
