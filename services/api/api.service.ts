/**
 * api: the HTTP gateway (moleculer-web). Only actions that declare a `rest` route in the
 * public services are reachable, all behind `X-API-Key`; every error leaves as
 * problem+json; health, the OpenAPI document and Swagger UI need no key.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import ApiGateway from "moleculer-web";
import type { Context, ServiceSchema } from "moleculer";
import { appConfig } from "../../config/broker-config";
import type { IdempotencyMeta } from "../../lib/idempotency";
import { defineMixin, defineService } from "../../lib/schema";
import { inCallLogContext } from "../../lib/log-context";
import { createCacheCleanerMixin } from "../../mixins/cache-cleaner.mixin";
import { authenticate, rateLimitKey } from "./auth";
import { openApiDocument, swaggerAsset, swaggerPage } from "./docs";
import { PUBLIC_SERVICES, moleculerWeb, requestIdOf, requestIdsOf, setIdHeaders, type ApiThis, type Req } from "./gateway";
import { parentSpanOf } from "../../contracts/trace-context";
import { live, ready, routesStatus } from "./health";
import { answerNotRouted, guardHttp, guardServer } from "./http-guard";
import { answerKnownRead, answerStale, callAction } from "./near-cache-route";
import { toProblem } from "./problem";
import { rateLimitStoreFor, secondsUntil } from "./rate-limit";
import { acceptInput, hasBody } from "./request-body";
import { recordWhenAnswered } from "./request-records";
import { measureWhenAnswered, registerHttpMetrics } from "./http-metrics";

interface GatewayMeta extends IdempotencyMeta {
	$location?: string;
}

/**
 * Settings that come from the configuration. Listed after moleculer-web among the
 * mixins, so its `created` runs first and moleculer-web builds its routes from them.
 */
const settingsFromConfig = defineMixin<ApiThis>({
	created(this: ApiThis) {
		const config = appConfig(this.broker);
		this.settings.port = config.port;
		if (config.rateLimit > 0) {
			this.settings.routes[0].rateLimit = {
				window: 60_000,
				limit: config.rateLimit,
				headers: true,
				key: rateLimitKey(config.apiKeys),
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
		// Moleculer's request id is the trace id (its spans' traceID); the correlation id rides in meta.
		rootCallOptions(options: { requestID?: string; parentSpan?: object; meta?: object }, req: IncomingMessage) {
			const { traceId, parent, correlationId, sampled } = requestIdsOf(req);
			options.requestID = traceId;
			if (parent) options.parentSpan = parentSpanOf(parent);
			// The sampler was asked already (a known read's lane): the gateway's span is a root that keeps its answer.
			else if (sampled !== undefined) options.parentSpan = { traceID: traceId, sampled };
			options.meta = { ...options.meta, correlationId };
		},
		routes: [
			{
				path: "/api/v1",
				whitelist: PUBLIC_SERVICES.map(name => `${name}.*`),
				autoAliases: true,
				mappingPolicy: "restrict",
				pathToRegexpOptions: { sensitive: true },
				authentication: true,
				// The body is read only after the rate limit and the key: by acceptInput, moleculer-web's
				// last step before the action (its `authorization` hook), never by a body parser ahead of them.
				bodyParsers: false,
				authorization: "acceptInput",
				// A write that reads idempotency keys gets one of the gateway's own when the client sent
				// none, so it may be sent again to another node (middlewares/failover.middleware.ts).
				onBeforeCall(this: ApiThis, ctx: Context<unknown, GatewayMeta>, _route: unknown, req: Req) {
					const key = req.headers["idempotency-key"];
					if (typeof key === "string") ctx.meta.idempotencyKey = key;
					else if (req.$endpoint?.action.readsIdempotencyKey) ctx.meta.derivedIdempotencyKey = randomUUID();
				},
				// Services give a location on their own REST paths (`/products/<id>`); clients get it under this route.
				onAfterCall(this: ApiThis, ctx: Context<unknown, GatewayMeta>, route: { path: string }, _req: Req, _res: ServerResponse, data: unknown) {
					if (ctx.meta.$location?.startsWith("/")) ctx.meta.$location = route.path + ctx.meta.$location;
					return data;
				}
			},
			{
				path: "/api",
				aliases: {
					"GET openapi.json": "api.openapi",
					"GET docs": "api.docs",
					"GET docs/:file": "api.docsAsset"
				},
				pathToRegexpOptions: { sensitive: true },
				mappingPolicy: "restrict",
				bodyParsers: false
			},
			{
				path: "/health",
				aliases: { "GET live": "api.live", "GET ready": "api.ready" },
				pathToRegexpOptions: { sensitive: true },
				mappingPolicy: "restrict",
				bodyParsers: false
			}
		],
		onError(this: ApiThis, req: Req, res: ServerResponse, err: unknown) {
			if (answerStale(this, req, res, err)) return;
			const { problem, internal } = toProblem(err);
			const path = (req.originalUrl ?? req.url ?? "").split("?")[0];
			// moleculer-web calls this after the request's action ended, outside its log context.
			const log = () =>
				internal ? this.logger.error(`${req.method} ${path} failed:`, err) : this.logger.debug(`${req.method} ${path} answered ${problem.status} ${problem.code}.`);
			if (req.$ctx) inCallLogContext(req.$ctx, log);
			else log();
			if (problem.code === "NOT_FOUND") problem.detail = `No route matches ${req.method} ${path}.`;
			problem.instance = path;
			problem.requestId = requestIdOf(req);
			problem.traceId = requestIdsOf(req).traceId;
			if (res.headersSent) return void res.end();
			// Answered before its body was read (refused, or past the limit): the connection goes rather than read the rest.
			if (hasBody(req) && !req.complete) res.setHeader("Connection", "close");
			res.setHeader("Content-Type", "application/problem+json; charset=utf-8");
			setIdHeaders(req, res);
			if (problem.status === 429) res.setHeader("Retry-After", secondsUntil(req.$route?.rateLimit?.store.resetTime ?? 0));
			// A tripped breaker half-opens after 5 s; an unavailable service is worth retrying about then.
			if (problem.status === 503) res.setHeader("Retry-After", 5);
			res.writeHead(problem.status);
			res.end(JSON.stringify(problem));
		}
	},

	actions: {
		/** Liveness: the process answers. */
		live: { handler: live },
		/** Readiness: every service's database and the transporter; 503 names what fails. */
		ready: { handler: ready },
		/** The OpenAPI 3.1 document of the public services. */
		openapi: { handler: openApiDocument },
		/** Swagger UI over the OpenAPI document. */
		docs: { handler: swaggerPage },
		docsAsset: { params: { file: "string" }, handler: swaggerAsset }
	},

	created(this: ApiThis) {
		registerHttpMetrics(this.broker);
	},

	started(this: ApiThis) {
		guardServer(this.server);
	},

	events: {
		// Aliases are otherwise built 500 ms after the registry changes: build them as soon as
		// the node's own services are up, so the first request after start finds its route.
		"$broker.started"(this: ApiThis) {
			routesStatus(this);
		}
	},

	// moleculer-web's own methods, overridden.
	methods: {
		/**
		 * Every HTTP request: measured, a write recorded once answered (unless the rate limit
		 * refused it), then a known cached read answered at once, or the guard and moleculer-web.
		 */
		async httpHandler(this: ApiThis, req: Req, res: ServerResponse, next?: unknown) {
			setIdHeaders(req, res);
			measureWhenAnswered(this.broker, req, res);
			recordWhenAnswered(this, req, res);
			if (await answerKnownRead(this, req, res)) return;
			return guardHttp(this, req, res, next);
		},
		/** Errors are logged by onError, once and only when they are the server's fault. */
		errorHandler(this: ApiThis, req: Req, res: ServerResponse, err: unknown) {
			this.sendError(req, res, err);
		},
		/** A request no route took: 405 when its path has other methods, else 404. */
		send404: answerNotRouted,
		sendResponse(this: ApiThis, req: Req, res: ServerResponse, data: unknown, action: unknown) {
			setIdHeaders(req, res);
			return moleculerWeb.sendResponse.call(this, req, res, data, action);
		},
		callAction,
		authenticate,
		acceptInput
	}
});

export default ApiService;
