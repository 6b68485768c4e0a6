/** The OpenAPI document and the Swagger UI page over it, with its assets from the swagger-ui-dist package. */
import { createReadStream } from "node:fs";
import { join } from "node:path";
import { Errors, type Context, type Service } from "moleculer";
import { getAbsoluteFSPath } from "swagger-ui-dist";
import { appConfig } from "../../config/broker-config";
import { buildOpenApi, type ServiceDescription } from "./openapi";
import { SWAGGER_FILES } from "./openapi-gateway";
import { PUBLIC_SERVICES } from "./gateway";

const SWAGGER_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>product-inventory API</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css"><link rel="icon" href="/api/docs/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: "/api/openapi.json", dom_id: "#swagger-ui" });</script>
</body></html>`;

/** The OpenAPI 3.1 document, built from the same action schemas the validator enforces. */
export function openApiDocument(this: Service) {
	const services = this.broker.registry.getServiceList({ withActions: true, onlyAvailable: false, grouping: true }) as ServiceDescription[];
	return buildOpenApi(
		services.filter(s => PUBLIC_SERVICES.includes(s.name)),
		{ title: "product-inventory", version: "1.0.0", basePath: "/api/v1", rateLimit: appConfig(this.broker).rateLimit }
	);
}

/** Swagger UI's page. */
export function swaggerPage(ctx: Context<unknown, { $responseType?: string }>) {
	ctx.meta.$responseType = "text/html; charset=utf-8";
	return SWAGGER_PAGE;
}

/** One of the page's assets, by name; any other name is 404. */
export function swaggerAsset(ctx: Context<{ file: string }, { $responseType?: string }>) {
	const { file } = ctx.params;
	if (!SWAGGER_FILES.includes(file)) throw new Errors.MoleculerClientError("Not found", 404, "NOT_FOUND");
	ctx.meta.$responseType = file.endsWith(".css")
		? "text/css; charset=utf-8"
		: file.endsWith(".png")
			? "image/png"
			: "application/javascript; charset=utf-8";
	return createReadStream(join(getAbsoluteFSPath(), file));
}
