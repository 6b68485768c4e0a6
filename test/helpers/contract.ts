/**
 * The OpenAPI document as a contract for the answers a test receives: each answer's status
 * must be documented for its operation, the headers documented as required must be there
 * and match their schema, and the body must match the schema of its media type (ajv, JSON
 * Schema 2020-12, with `x-decimal-places` evaluated exactly). A path the document does not
 * have may only answer its 404; a method a path does not have, its 405.
 */
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import type { OpenApiDocument } from "../../services/api/openapi";
import { httpClient, type HttpResponse, type RequestOptions } from "./http";

type Json = Record<string, any>;

export interface Answer {
	method: string;
	/** The request path, with or without its query. */
	path: string;
	status: number;
	headers: Headers;
	/** Parsed JSON for a JSON media type, else the text. */
	body: unknown;
}

const DOC_ID = "https://contract.test/openapi.json";

/** Where `x-decimal-places: n` holds: the shortest decimal form of the number has at most n decimals. */
const hasDecimalPlaces = (places: number, value: number) => new RegExp(`^-?\\d+(\\.\\d{1,${places}})?$`).test(String(value));

/** Ajv for the document's schemas: JSON Schema 2020-12, its formats, and `x-decimal-places` evaluated on the number's decimal form. */
export function createAjv(): Ajv2020 {
	const ajv = new Ajv2020({ allErrors: true, strict: true });
	addFormats(ajv);
	ajv.addKeyword({
		keyword: "x-decimal-places",
		type: "number",
		schemaType: "number",
		validate: (places: number, value: number) => hasDecimalPlaces(places, value)
	});
	return ajv;
}

/** Whether a path segment is not valid percent-encoded UTF-8 (`%zz`, `%C0%AF`, `%ED%A0%80`). */
export function hasUndecodableSegment(path: string): boolean {
	return path
		.split("?")[0]
		.split("/")
		.some(segment => {
			try {
				decodeURIComponent(segment);
				return false;
			} catch {
				return true;
			}
		});
}

/**
 * The rule the document's description states for every path and method: a segment that
 * is not valid percent-encoded UTF-8 is a 400 MALFORMED_PATH, answered before the key.
 */
export function isMalformedPathAnswer(answer: Pick<Answer, "path" | "status" | "body">): boolean {
	return answer.status === 400 && (answer.body as { code?: unknown } | undefined)?.code === "MALFORMED_PATH" && hasUndecodableSegment(answer.path);
}

export class Contract {
	private readonly ajv = createAjv();
	private readonly compiled = new Map<string, ValidateFunction>();
	private readonly templates: { template: string; pattern: RegExp; literal: number }[];
	/** Statuses received per operation ("get /api/v1/products"). */
	readonly received = new Map<string, Set<number>>();
	/** Every departure found so far, also those a waiting probe caught. */
	readonly departures: string[] = [];

	constructor(readonly doc: OpenApiDocument) {
		// The named schemas refs point into, as the document holds them.
		this.ajv.addKeyword("components");
		this.ajv.addSchema({ $id: DOC_ID, components: { schemas: doc.components.schemas } });
		this.templates = Object.keys(doc.paths).map(template => ({
			template,
			pattern: new RegExp(`^${template.replace(/[.]/g, "\\.").replace(/\{[^}]+\}/g, "[^/]+")}$`),
			literal: template.replace(/\{[^}]+\}/g, "").length
		}));
	}

	/** Every way the answer departs from the document; none when it keeps to it. */
	check(answer: Answer): string[] {
		const found = this.departuresOf(answer);
		this.departures.push(...found);
		return found;
	}

	private departuresOf(answer: Answer): string[] {
		const path = answer.path.split("?")[0];
		const method = answer.method.toLowerCase();
		const template = this.templateOf(path);
		const where = `${answer.method} ${answer.path} -> ${answer.status}`;
		if (hasUndecodableSegment(answer.path))
			return isMalformedPathAnswer(answer)
				? this.checkResponse(where, this.component("BadRequest"), answer)
				: [`${where}: a path that cannot be decoded must be a 400 MALFORMED_PATH`];
		if (!template)
			return answer.status === 404
				? this.checkResponse(where, this.component("NotFound"), answer)
				: [`${where}: no documented path matches, and it is not a 404`];
		// The rules the document's description states for every path: OPTIONS lists the methods, HEAD is a GET without its body.
		if (method === "options")
			return answer.status === 204
				? this.checkResponse(where, { headers: { Allow: { $ref: "#/components/headers/Allow" }, "X-Request-ID": { $ref: "#/components/headers/RequestId" }, "X-Trace-Id": { $ref: "#/components/headers/TraceId" } } }, answer)
				: [`${where}: OPTIONS on a documented path must be a 204`];
		const headOfGet = method === "head" ? (this.doc.paths[template].get as Json | undefined) : undefined;
		const operation = (headOfGet ?? this.doc.paths[template][method]) as Json | undefined;
		if (!operation)
			return answer.status === 405
				? this.checkResponse(where, this.component("MethodNotAllowed"), answer)
				: [`${where}: ${template} has no ${method}, and it is not a 405`];
		const key = `${method} ${template}`;
		if (!this.received.has(key)) this.received.set(key, new Set());
		this.received.get(key)!.add(answer.status);
		const response = operation.responses[String(answer.status)] ?? operation.responses[`${String(answer.status)[0]}XX`];
		if (!response) return [`${where}: status ${answer.status} is not documented for ${key} (documented: ${Object.keys(operation.responses).join(", ")})`];
		const documented = this.resolve(response);
		return this.checkResponse(where, headOfGet ? { ...documented, content: undefined } : documented, answer);
	}

	/** Operations ("get /api/v1/products") and the statuses they document. */
	operations(): Map<string, string[]> {
		const all = new Map<string, string[]>();
		for (const [template, item] of Object.entries(this.doc.paths))
			for (const [method, operation] of Object.entries(item)) all.set(`${method} ${template}`, Object.keys(operation.responses));
		return all;
	}

	private templateOf(path: string): string | undefined {
		// A literal segment beats a parameter where both match.
		return this.templates
			.filter(t => t.pattern.test(path))
			.sort((a, b) => b.literal - a.literal)[0]?.template;
	}

	private component(name: string): Json {
		return this.doc.components.responses[name] as Json;
	}

	private resolve(value: Json): Json {
		if (typeof value.$ref !== "string") return value;
		const [kind, name] = value.$ref.replace("#/components/", "").split("/");
		return this.resolve(this.doc.components[kind][name] as Json);
	}

	private checkResponse(where: string, response: Json, answer: Answer): string[] {
		const problems: string[] = [];
		for (const [name, declared] of Object.entries((response.headers ?? {}) as Record<string, Json>)) {
			const header = this.resolve(declared);
			const value = answer.headers.get(name);
			if (value === null) {
				if (header.required) problems.push(`${where}: header ${name} is documented as required but missing`);
				continue;
			}
			const typed = header.schema?.type === "integer" || header.schema?.type === "number" ? Number(value) : value;
			problems.push(...this.validate(`${where}: header ${name}`, header.schema ?? {}, typed));
		}
		const content = response.content as Record<string, Json> | undefined;
		const mediaType = (answer.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
		if (!content) {
			if (answer.body !== "" && answer.body !== undefined) problems.push(`${where}: a body where the document has none`);
			return problems;
		}
		const media = content[mediaType];
		if (!media) return [...problems, `${where}: media type "${mediaType}" is not documented (documented: ${Object.keys(content).join(", ")})`];
		return [...problems, ...this.validate(`${where}: body`, media.schema ?? {}, answer.body)];
	}

	private validate(where: string, schema: Json, value: unknown): string[] {
		const text = JSON.stringify(schema).replaceAll('"#/components/', `"${DOC_ID}#/components/`);
		let validate = this.compiled.get(text);
		if (!validate) {
			validate = this.ajv.compile(JSON.parse(text));
			this.compiled.set(text, validate);
		}
		if (validate(value)) return [];
		const errors = (validate.errors ?? []).map(e => `${e.instancePath || "/"} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ""}`);
		return [`${where} does not match its schema: ${errors.join("; ")} (value: ${JSON.stringify(value)?.slice(0, 300)})`];
	}
}

/** The contract of the OpenAPI document the node at `baseUrl` serves. */
export async function servedContract(baseUrl: string): Promise<Contract> {
	return new Contract((await httpClient(() => baseUrl)("GET", "/api/openapi.json", { apiKey: false })).body);
}

/** The e2e HTTP client whose every answer is checked against the contract: one that departs from it fails the test at once. */
export function contractClient(baseUrl: () => string, contract: () => Contract | Promise<Contract>) {
	const request = httpClient(baseUrl);
	return async function checked<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<HttpResponse<T>> {
		const response = await request<T>(method, path, options);
		const problems = (await contract()).check({ method, path, status: response.status, headers: response.headers, body: response.body });
		if (problems.length > 0) throw new Error(`The answer departs from the OpenAPI document:\n${problems.join("\n")}`);
		return response;
	};
}

/**
 * The end-to-end suites' client: every answer is checked against the OpenAPI document the
 * node itself serves (fetched once per node), so an undocumented status, header or body
 * anywhere in those suites fails the test that received it.
 */
export function documentedClient(baseUrl: () => string) {
	const contracts = new Map<string, Promise<Contract>>();
	return contractClient(baseUrl, () => {
		const base = baseUrl();
		if (!contracts.has(base)) contracts.set(base, servedContract(base));
		return contracts.get(base)!;
	});
}
