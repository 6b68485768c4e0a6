import { documentedClient } from "../helpers/contract";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { useNode } from "../helpers/suite";
import type { OpenApiDocument } from "../../services/api/openapi";

interface ToolsReport {
	valid: boolean;
	validationErrors: unknown[];
	lint: { severity: "error" | "warn"; ruleId: string; message: string; pointer?: string }[];
}

/** Runs the OpenAPI 3.1 schema validator and Redocly's recommended lint on the document (test/helpers/openapi-tools.mjs). */
function checkWithTools(doc: unknown): Promise<ToolsReport> {
	return new Promise((resolve, reject) => {
		const child = execFile(process.execPath, [join(__dirname, "../helpers/openapi-tools.mjs")], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
			err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as ToolsReport)
		);
		child.stdin!.end(JSON.stringify(doc));
	});
}

/**
 * Redocly warnings the document keeps on purpose: the health and docs routes have no 4xx
 * to document, and 405 is answered for methods a path does not have, so no operation can
 * refer to it.
 */
const ACCEPTED_WARNINGS = new Set(["operation-4xx-response", "no-unused-components"]);

describe("the OpenAPI document a started node serves", () => {
	const suite = useNode("sqlite");
	const request = documentedClient(() => suite.node.baseUrl!);
	let doc: OpenApiDocument;
	let report: ToolsReport;

	beforeAll(async () => {
		doc = (await request("GET", "/api/openapi.json", { apiKey: false })).body;
		report = await checkWithTools(doc);
	});

	it("is a valid OpenAPI 3.1 document", () => {
		expect(report.validationErrors).toEqual([]);
		expect(report.valid).toBe(true);
	});

	it("passes Redocly's recommended lint without errors, and with only the warnings it keeps on purpose", () => {
		expect(report.lint.filter(p => p.severity === "error")).toEqual([]);
		expect(report.lint.filter(p => !ACCEPTED_WARNINGS.has(p.ruleId))).toEqual([]);
	});

	it("gives every operation a summary, and every JSON answer a named schema", () => {
		for (const [path, item] of Object.entries(doc.paths))
			for (const [method, operation] of Object.entries(item)) {
				expect({ operation: `${method} ${path}`, summary: typeof operation.summary }).toEqual({ operation: `${method} ${path}`, summary: "string" });
				for (const [status, response] of Object.entries(operation.responses) as [string, { content?: Record<string, { schema: { $ref?: string } }> }][]) {
					const schema = response.content?.["application/json"]?.schema;
					if (schema && path !== "/api/openapi.json")
						expect({ operation: `${method} ${path} ${status}`, schema }).toEqual({
							operation: `${method} ${path} ${status}`,
							schema: { $ref: expect.stringMatching(/^#\/components\/schemas\/[A-Z]\w+$/) }
						});
				}
			}
		expect(Object.keys(doc.components.schemas)).toEqual(
			expect.arrayContaining(["Product", "ProductPage", "Stock", "StockPage", "Movement", "MovementPage", "Purchase", "PurchaseLine", "PurchasePage", "AuditEntry", "AuditEntryPage", "Problem"])
		);
	});

	it("documents pages by cursor on the lists that have them, and only there", () => {
		const cursorOf = (path: string) => (doc.paths[path].get.parameters as { name: string }[] | undefined)?.find(p => p.name === "cursor");
		for (const path of ["/api/v1/products", "/api/v1/inventory", "/api/v1/inventory/{productId}/movements", "/api/v1/audit"])
			expect(cursorOf(path)).toMatchObject({ in: "query", required: false, schema: { type: "string", description: expect.stringContaining("nextCursor") } });
		expect(cursorOf("/api/v1/purchases")).toBeUndefined();
		for (const page of ["ProductPage", "StockPage", "MovementPage", "AuditEntryPage"])
			expect(doc.components.schemas[page]).toMatchObject({
				required: ["items", "pageSize", "nextCursor"],
				properties: { nextCursor: { type: ["string", "null"] }, totalEstimated: { type: "boolean" } }
			});
		expect((doc.components.schemas.PurchasePage as { required?: string[] }).required).toEqual(["items", "page", "pageSize", "total", "totalEstimated"]);
	});

	it("documents the rate limit the node runs with", () => {
		expect(doc.paths["/api/v1/products"].get.responses["429"]).toEqual({ $ref: "#/components/responses/TooManyRequests" });
	});
});
