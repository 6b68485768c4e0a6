/** The gateway's own routes in the OpenAPI document: health checks and the documentation, which need no key. */
import { STRING, objectOf, oneOfStrings, type JsonSchema } from "../../lib/json-schema";
import { successHeaders, problemResponses } from "./openapi-components";
import type { live, ready } from "./health";

const LIVENESS = objectOf<ReturnType<typeof live>>("Liveness", { status: { const: "ok" } });

const READINESS = objectOf<Awaited<ReturnType<typeof ready>>>("Readiness", {
	status: oneOfStrings(["ready", "unavailable", "draining"]),
	checks: {
		type: "object",
		description: "Each dependency (`products.database`, `transporter`, `cacher`, `routes`, `kafka`...) and its state: `up`, `in-process`, or what fails.",
		additionalProperties: STRING
	}
});

/** The Swagger UI assets the docs route serves. */
export const SWAGGER_FILES = ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"];

const json = (schema: JsonSchema) => ({ "application/json": { schema } });
const ok = (description: string, content: Record<string, unknown>) => ({ 200: { description, headers: successHeaders(false), content } });
const keyless = (operationId: string, tag: string, summary: string, responses: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
	operationId,
	tags: [tag],
	summary,
	security: [],
	...extra,
	responses: { ...responses, ...problemResponses([500]) }
});

/** The paths of the gateway's own routes (api.service.ts: `/health` and `/api`), keyed as in the document. */
export function gatewayPaths(): Record<string, Record<string, unknown>> {
	return {
		"/health/live": {
			get: keyless("api_live", "health", "Liveness: the process answers", ok("Alive.", json(LIVENESS)))
		},
		"/health/ready": {
			get: keyless("api_ready", "health", "Readiness: every database and the transporter answer", {
				...ok("Ready to take requests.", json(READINESS)),
				503: { description: "Not ready (or draining); `checks` names what fails.", headers: successHeaders(false), content: json(READINESS) }
			})
		},
		"/api/openapi.json": {
			get: keyless("api_openapi", "docs", "This OpenAPI 3.1 document", ok("The document.", json({ type: "object" })))
		},
		"/api/docs": {
			get: keyless("api_docs", "docs", "Swagger UI over this document", ok("The Swagger UI page.", { "text/html": { schema: STRING } }))
		},
		"/api/docs/{file}": {
			get: keyless(
				"api_docsAsset",
				"docs",
				"An asset of the Swagger UI page",
				{
					...ok("The asset.", {
						"text/css": { schema: STRING },
						"application/javascript": { schema: STRING },
						"image/png": { schema: { type: "string", contentMediaType: "image/png" } }
					}),
					...problemResponses([400, 404])
				},
				{ parameters: [{ name: "file", in: "path", required: true, schema: { type: "string" }, description: `One of ${SWAGGER_FILES.join(", ")}.` }] }
			)
		}
	};
}
