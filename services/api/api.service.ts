/**
 * api: the HTTP gateway (moleculer-web). Only actions that declare a `rest` route in the
 * public services are reachable, all behind `X-API-Key`; every error leaves as
 * problem+json; health, the OpenAPI document and Swagger UI need no key.
 */
import { randomUUID, timingSafeEqual } from "node:crypto";
import { createReadStream } from "node:fs";
import { join } from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import ApiGateway from "moleculer-web";
import { Errors, type CallingOptions, type Context, type Service, type ServiceBroker, type ServiceSchema } from "moleculer";
import { getAbsoluteFSPath } from "swagger-ui-dist";
import { appConfig, isDraining } from "../../config/broker-config";
import { ALL_SERVICES, type ApiKey } from "../../config/env";
import { AUDIT_LOGS_TOPIC, type RequestRecord } from "../../contracts/events";
import { kafkaEnabled, kafkaStatus, produce } from "../../lib/kafka";
import { toProblem } from "./problem";
import { findHostileInput } from "./input-guard";
import { UnprocessableError, isOutage } from "../../contracts/errors";
import { REQUEST_ID } from "../../lib/params";
import { buildOpenApi, type ServiceDescription } from "./openapi";
import { defineMixin, defineService } from "../../lib/schema";
import { rateLimitStoreFor, secondsUntil } from "./rate-limit";
import { isCached, nearCacheOf, type CachedActionDef } from "../../middlewares/near-cache.middleware";
import { ResilientRedisCacher } from "../../lib/cache/cacher";
import { createCacheCleanerMixin } from "../../mixins/cache-cleaner.mixin";

const PUBLIC_SERVICES = ["products", "inventory", "purchases", "audit"];
const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
/** Services whose database readiness decides the gateway's readiness. */
const DATABASE_SERVICES = ALL_SERVICES.filter(name => name !== "api");
const SWAGGER_FILES = new Set(["swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"]);

type Req = IncomingMessage & {
	$ctx?: Context;
	originalUrl?: string;
	$alias?: { action?: string; method?: string; fullPath?: string };
	$endpoint?: { action: CachedActionDef };
	$params?: Record<string, unknown>;
	$route?: { rateLimit?: { store: { resetTime: number } } };
};
interface GatewayMeta {
	user?: { name: string };
	idempotencyKey?: string;
}
type ApiThis = Service & {
	settings: { port: number; routes: Record<string, unknown>[] };
	// moleculer-web's own state.
	aliases: { action?: string }[];
	routes: { opts: { autoAliases?: boolean } }[];
	regenerateAutoAliases(route: unknown): void;
	routesStatus(): string;
	recordRequest(req: Req, res: ServerResponse, started: bigint): void;
	answerStale(req: Req, res: ServerResponse, err: unknown): boolean;
	sendResponse(req: Req, res: ServerResponse, data: unknown, action: unknown): void;
	sendError(req: Req, res: ServerResponse, err: unknown): void;
	server: import("node:http").Server;
};
type Route = { callOptions?: Record<string, unknown> };

const gatewayMethods = (ApiGateway as unknown as { methods: Record<"callAction" | "httpHandler", (...args: unknown[]) => Promise<unknown>> }).methods;
/** moleculer-web's own way of calling an alias's action and sending its answer. */
const gatewayCallAction = gatewayMethods.callAction;
/** moleculer-web's own handler of every HTTP request. */
const gatewayHttpHandler = gatewayMethods.httpHandler;
/** Calls to audit for one request record: about 16 s of trying (0.5, 1, 2, 4, 8 s apart). */
const RECORD_ATTEMPTS = 6;
const MAX_BODY_BYTES = 1024 * 1024;
/** The status recorded for a request whose client left before the answer (nginx's 499). */
const CLIENT_CLOSED_REQUEST = 499;
/** How long a client may take to send a whole request (Node's default is 5 minutes). */
const REQUEST_TIMEOUT_MS = 30_000;

async function cacherStatus(broker: ServiceBroker): Promise<string> {
	const cacher = broker.cacher;
	if (!(cacher instanceof ResilientRedisCacher)) return cacher ? "in-memory" : "none";
	try {
		await cacher.client.ping();
		return "up";
	} catch (err) {
		return `down (reads go to the databases): ${(err as Error).message}`;
	}
}

function sameKey(given: string, expected: string): boolean {
	const a = Buffer.from(given);
	const b = Buffer.from(expected);
	return a.length === b.length && timingSafeEqual(a, b);
}

function findKey(keys: ApiKey[], given: string): ApiKey | undefined {
	// Compares against every key so the time taken does not tell which one matched.
	let match: ApiKey | undefined;
	for (const key of keys) if (sameKey(given, key.key)) match = key;
	return match;
}

const keysOfRequests = new WeakMap<IncomingMessage, ApiKey | null>();

/** The valid API key a request carries, if any; worked out once per request (rate limit, authentication, record). */
function apiKeyOf(keys: ApiKey[], req: IncomingMessage): ApiKey | undefined {
	let key = keysOfRequests.get(req);
	if (key === undefined) {
		const given = req.headers["x-api-key"];
		key = (typeof given === "string" && findKey(keys, given)) || null;
		keysOfRequests.set(req, key);
	}
	return key ?? undefined;
}

function requestIdOf(req: IncomingMessage): string {
	const header = req.headers["x-request-id"];
	return typeof header === "string" && REQUEST_ID.test(header) ? header : randomUUID();
}

const SWAGGER_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>product-inventory API</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css"><link rel="icon" href="/api/docs/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: "/api/openapi.json", dom_id: "#swagger-ui" });</script>
</body></html>`;

/**
 * Settings that come from the configuration. Listed after moleculer-web among the
 * mixins, so its `created` runs first and moleculer-web builds its routes from them.
 */
const settingsFromConfig = defineMixin<ApiThis>({
	created(this: ApiThis) {
		const config = appConfig(this.broker);
		this.settings.port = config.port;
		if (config.rateLimit > 0) {
			const keys = config.apiKeys;
			this.settings.routes[0].rateLimit = {
				window: 60_000,
				limit: config.rateLimit,
				headers: true,
				// Counted per key name (per address for requests without a valid key).
				key: (req: IncomingMessage) => {
					const key = apiKeyOf(keys, req);
					return key ? `key:${key.name}` : `ip:${req.socket.remoteAddress}`;
				},
				StoreFactory: rateLimitStoreFor(this.broker)
			};
		}
		if (config.devApiKey)
			this.logger.warn("API_KEYS is not set: the development key from the README is accepted. Set API_KEYS before exposing this gateway.");
	}
});

const ApiService = defineService<ApiThis>({
	name: "api",
	// The near cache keeps product and stock answers here too: a gateway of its own cleans them with every other node.
	mixins: [ApiGateway as unknown as Partial<ServiceSchema>, settingsFromConfig, createCacheCleanerMixin(["products", "inventory"])],

	settings: {
		port: 3000,
		ip: "0.0.0.0",
		// Client errors are answered, not logged as failures; no request body or key is logged.
		log4XXResponses: false,
		logRequest: "debug",
		logResponse: "debug",
		logRequestParams: null,
		logResponseData: null,
		rootCallOptions(options: { requestID?: string }, req: IncomingMessage) {
			options.requestID = requestIdOf(req);
		},
		routes: [
			{
				path: "/api/v1",
				whitelist: PUBLIC_SERVICES.map(name => `${name}.*`),
				autoAliases: true,
				mappingPolicy: "restrict",
				authentication: true,
				bodyParsers: { json: { strict: true, limit: MAX_BODY_BYTES }, urlencoded: false },
				// After the key and the rate limit, before the action: the body and query as parsed.
				onBeforeCall(this: ApiThis, ctx: Context<unknown, GatewayMeta>, _route: unknown, req: Req & { body?: unknown; query?: unknown }) {
					const hostile = findHostileInput(req.body) ?? findHostileInput(req.query);
					if (hostile) throw new UnprocessableError([hostile]);
					const key = req.headers["idempotency-key"];
					if (typeof key === "string") ctx.meta.idempotencyKey = key;
				}
			},
			{
				path: "/api",
				aliases: {
					"GET openapi.json": "api.openapi",
					"GET docs": "api.docs",
					"GET docs/:file": "api.docsAsset"
				},
				mappingPolicy: "restrict",
				bodyParsers: false
			},
			{
				path: "/health",
				aliases: { "GET live": "api.live", "GET ready": "api.ready" },
				mappingPolicy: "restrict",
				bodyParsers: false
			}
		],
		onError(this: ApiThis, req: Req, res: ServerResponse, err: unknown) {
			if (this.answerStale(req, res, err)) return;
			const { problem, internal } = toProblem(err);
			const path = (req.originalUrl ?? req.url ?? "").split("?")[0];
			if (internal) this.logger.error(`${req.method} ${path} failed:`, err);
			if (problem.code === "NOT_FOUND") problem.detail = `No route matches ${req.method} ${path}.`;
			problem.instance = path;
			problem.requestId = req.$ctx?.requestID ?? requestIdOf(req);
			if (res.headersSent) return void res.end();
			res.setHeader("Content-Type", "application/problem+json; charset=utf-8");
			res.setHeader("X-Request-ID", problem.requestId);
			if (problem.status === 429) res.setHeader("Retry-After", secondsUntil(req.$route?.rateLimit?.store.resetTime ?? 0));
			// A tripped breaker half-opens after 5 s; an unavailable service is worth retrying about then.
			if (problem.status === 503) res.setHeader("Retry-After", 5);
			res.writeHead(problem.status);
			res.end(JSON.stringify(problem));
		}
	},

	actions: {
		/** Liveness: the process answers. */
		live: {
			handler: () => ({ status: "ok" })
		},

		/**
		 * Readiness: every service's database answers and the transporter is connected;
		 * 503 names what does not, or says the node is draining. A Redis outage is
		 * reported but does not make the node unready: reads then go to the databases.
		 */
		ready: {
			async handler(this: ApiThis, ctx: Context<unknown, { $statusCode?: number }>) {
				const checks: Record<string, string> = {};
				await Promise.all(
					DATABASE_SERVICES.map(async name => {
						try {
							const result = (await ctx.call(`${name}.checkDatabase`, {}, { timeout: 2000 })) as { status: string };
							checks[`${name}.database`] = result.status;
						} catch (err) {
							checks[`${name}.database`] = `down: ${(err as Error).message}`;
						}
					})
				);
				checks.routes = this.routesStatus();
				const transit = this.broker.transit as { connected?: boolean } | undefined;
				checks.transporter = !transit ? "in-process" : transit.connected ? "up" : "down";
				checks.cacher = await cacherStatus(this.broker);
				if (kafkaEnabled(this.broker)) checks.kafka = await kafkaStatus(this.broker);
				const failing = Object.entries(checks).filter(([name, status]) => name !== "cacher" && !/^(up|in-process)$/.test(status));
				const draining = isDraining(this.broker);
				const ready = failing.length === 0 && !draining;
				if (!ready) ctx.meta.$statusCode = 503;
				return { status: draining ? "draining" : ready ? "ready" : "unavailable", checks };
			}
		},

		/** The OpenAPI 3.1 document, built from the same action schemas the validator enforces. */
		openapi: {
			handler(this: Service) {
				const services = this.broker.registry.getServiceList({ withActions: true, onlyAvailable: false, grouping: true }) as ServiceDescription[];
				return buildOpenApi(
					services.filter(s => PUBLIC_SERVICES.includes(s.name)),
					{ title: "product-inventory", version: "1.0.0", basePath: "/api/v1" }
				);
			}
		},

		/** Swagger UI over the OpenAPI document, served from the swagger-ui-dist package. */
		docs: {
			handler(ctx: Context<unknown, { $responseType?: string }>) {
				ctx.meta.$responseType = "text/html; charset=utf-8";
				return SWAGGER_PAGE;
			}
		},

		docsAsset: {
			params: { file: "string" },
			handler(ctx: Context<{ file: string }, { $responseType?: string }>) {
				const { file } = ctx.params;
				if (!SWAGGER_FILES.has(file)) throw new Errors.MoleculerClientError("Not found", 404, "NOT_FOUND");
				ctx.meta.$responseType = file.endsWith(".css")
					? "text/css; charset=utf-8"
					: file.endsWith(".png")
						? "image/png"
						: "application/javascript; charset=utf-8";
				return createReadStream(join(getAbsoluteFSPath(), file));
			}
		}
	},

	started(this: ApiThis) {
		this.server.requestTimeout = REQUEST_TIMEOUT_MS;
	},

	events: {
		// Aliases are otherwise built 500 ms after the registry changes: build them as soon as
		// the node's own services are up, so the first request after start finds its route.
		"$broker.started"(this: ApiThis) {
			this.routesStatus();
		}
	},

	methods: {
		/**
		 * Whether every public service has its REST routes. moleculer-web builds them 500 ms
		 * after the registry changes; a node that is asked earlier builds them now.
		 */
		routesStatus(this: ApiThis): string {
			const missing = () => PUBLIC_SERVICES.filter(service => !this.aliases.some(alias => alias.action?.startsWith(`${service}.`)));
			if (missing().length > 0)
				for (const route of this.routes) if (route.opts.autoAliases) this.regenerateAutoAliases(route);
			const still = missing();
			return still.length === 0 ? "up" : `missing: ${still.join(", ")}`;
		},

		/**
		 * A product read whose service failed or whose circuit is open is answered with the
		 * last answer the near cache has for it, marked stale, when there is one.
		 */
		answerStale(this: ApiThis, req: Req, res: ServerResponse, err: unknown): boolean {
			const { problem } = toProblem(err);
			const action = req.$alias?.action;
			if (req.method !== "GET" || !action || problem.status < 500 || res.headersSent) return false;
			const stale = nearCacheOf(this.broker)?.staleAnswer(action, req.$params);
			if (stale === undefined) return false;
			this.logger.warn(`${action} failed (${problem.code}); answering the last known result, marked stale.`);
			res.setHeader("Content-Type", "application/json; charset=utf-8");
			res.setHeader("Warning", '110 - "Response is Stale"');
			res.setHeader("X-Cache", "STALE");
			res.setHeader("X-Request-ID", req.$ctx?.requestID ?? requestIdOf(req));
			res.writeHead(200);
			res.end(JSON.stringify(stale));
			return true;
		},

		/**
		 * moleculer-web's entry for every HTTP request; a write request is recorded once its
		 * response is sent, whatever answered it (an action, the body parser, authentication,
		 * or no route at all), unless the rate limit refused it.
		 */
		httpHandler(this: ApiThis, req: Req, res: ServerResponse, next?: unknown) {
			if (WRITE_METHODS.has(req.method ?? "")) {
				const started = process.hrtime.bigint();
				// Also when the client went away before the answer ("close" without "finish").
				res.once("close", () => this.recordRequest(req, res, started));
			}
			// No CORS: the gateway answers OPTIONS itself. moleculer-web would otherwise run the
			// action of the method a preflight names (Access-Control-Request-Method).
			if (req.method === "OPTIONS") {
				res.writeHead(204, { Allow: "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" });
				return void res.end();
			}
			// HEAD is a GET whose body Node leaves out.
			if (req.method === "HEAD") req.method = "GET";
			// A body declared too large is refused at once, not after waiting for all of it.
			if (Number(req.headers["content-length"]) > MAX_BODY_BYTES) {
				res.setHeader("Connection", "close");
				return this.sendError(req, res, Object.assign(new Error("request entity too large"), { type: "entity.too.large" }));
			}
			return gatewayHttpHandler.call(this, req, res, next);
		},

		/** Errors are logged by onError, once and only when they are the server's fault. */
		errorHandler(this: ApiThis, req: Req, res: ServerResponse, err: unknown) {
			this.sendError(req, res, err);
		},

		/**
		 * Sends the audit service its record of a write request made with a valid key: who
		 * (the key's name, never the key), which route, the status (499 when the client left
		 * first), how long it took; on the audit-logs topic with Kafka, else (or while Kafka
		 * is away) by a call, tried again for a while when audit is away. Audit keeps a record
		 * once by its id, so one that arrived twice is stored once. Requests without a valid
		 * key and those the rate limit refused are not recorded: neither may grow the trail.
		 */
		recordRequest(this: ApiThis, req: Req, res: ServerResponse, started: bigint) {
			const actor = apiKeyOf(appConfig(this.broker).apiKeys, req)?.name;
			if (actor === undefined || res.statusCode === 429) return;
			const alias = req.$alias;
			const record: RequestRecord = {
				id: randomUUID(),
				occurredAt: new Date().toISOString(),
				actor,
				method: req.method ?? "",
				route: alias?.fullPath ? `${alias.method} ${alias.fullPath}` : "(not routed)",
				path: (req.originalUrl ?? req.url ?? "").split("?")[0].slice(0, 500),
				status: res.writableFinished ? res.statusCode : CLIENT_CLOSED_REQUEST,
				durationMs: Number(process.hrtime.bigint() - started) / 1e6,
				correlationId: String(res.getHeader("X-Request-ID") ?? req.$ctx?.requestID ?? requestIdOf(req))
			};
			const call = (attempt: number): Promise<unknown> =>
				this.broker.call("audit.recordRequest", record, { requestID: record.correlationId }).catch(async err => {
					if (attempt >= RECORD_ATTEMPTS || !isOutage(err) || (this.broker as unknown as { stopping: boolean }).stopping) throw err;
					await new Promise(resolve => setTimeout(resolve, 250 * 2 ** attempt).unref());
					return call(attempt + 1);
				});
			const sent = kafkaEnabled(this.broker)
				? produce(this.broker, AUDIT_LOGS_TOPIC, record.correlationId, JSON.stringify(record)).catch(err => {
						this.logger.warn(`Request record ${record.id} not on Kafka (${(err as Error).message}): sent to audit by a call.`);
						return call(1);
					})
				: call(1);
			sent.catch(err => this.logger.warn(`Request record ${record.id} (${record.route} ${record.status}) not stored: ${(err as Error).message}`));
		},

		/**
		 * moleculer-web's callAction, except for GETs of cached actions: while the service's
		 * cache version holds, they are answered from the near cache with the JSON it
		 * serialized once, without calling the action at all.
		 */
		async callAction(this: ApiThis, route: Route, actionName: string, req: Req, res: ServerResponse, params: unknown, isStream: boolean) {
			const near = nearCacheOf(this.broker);
			const endpoint = req.$endpoint;
			if (!near || req.method !== "GET" || !endpoint || !isCached(endpoint.action))
				return gatewayCallAction.call(this, route, actionName, req, res, params, isStream);
			const ctx = req.$ctx!;
			const answer = await near.answer(endpoint.action, params, () => ctx.call(endpoint as never, params, { ...route.callOptions, nearCache: false } as CallingOptions));
			if ((ctx.meta as { $statusCode?: number }).$statusCode !== undefined || res.headersSent) {
				this.sendResponse(req, res, answer.value, endpoint.action);
				return true;
			}
			answer.json ??= JSON.stringify(answer.value);
			res.statusCode = 200;
			res.setHeader("Content-Type", "application/json; charset=utf-8");
			res.end(answer.json);
			return true;
		},

		/** Resolves the API key to its actor name; the key itself goes nowhere else. */
		authenticate(this: Service, _ctx: Context, _route: unknown, req: IncomingMessage) {
			const given = req.headers["x-api-key"];
			if (typeof given !== "string" || given === "")
				throw new Errors.MoleculerClientError("Send your API key in the X-API-Key header.", 401, "MISSING_API_KEY");
			const key = apiKeyOf(appConfig(this.broker).apiKeys, req);
			if (!key) throw new Errors.MoleculerClientError("The API key is not valid.", 401, "INVALID_API_KEY");
			return { name: key.name };
		}
	},

});

export default ApiService;
