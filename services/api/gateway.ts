/** What the gateway's files share: the request and service shapes, moleculer-web's own methods, the request's ids. */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import ApiGateway from "moleculer-web";
import type { Context, Service, ServiceBroker, Span } from "moleculer";
import { REQUEST_ID } from "../../lib/params";
import { newTraceId, parseTraceparent, type TraceContext } from "../../contracts/trace-context";
import type { CachedActionDef } from "../../middlewares/near-cache.middleware";

/** The priority Moleculer gives a span that names none; its sampler may be set to skip those below a minimum. */
const DEFAULT_SPAN_PRIORITY = 5;

/** The services whose `rest` actions the gateway routes, documents and waits for. */
export const PUBLIC_SERVICES = ["products", "inventory", "purchases", "audit"];

/** A request as moleculer-web has dressed it by the time the gateway's code sees it. */
export type Req = IncomingMessage & {
	$ctx?: Context;
	originalUrl?: string;
	/** The path moleculer-web matched routes against: no query, no trailing slash. */
	parsedUrl?: string;
	$alias?: { action?: string; method?: string; fullPath?: string };
	$endpoint?: { action: CachedActionDef & { readsIdempotencyKey?: boolean } };
	$params?: Record<string, unknown>;
	$route?: { rateLimit?: { store: { resetTime: number } } };
};

/** The gateway service, with the moleculer-web state and methods its files use. */
export type ApiThis = Service & {
	settings: { port: number; routes: Record<string, unknown>[] };
	aliases: { action?: string; method: string; match(path: string): unknown }[];
	routes: { opts: { autoAliases?: boolean } }[];
	regenerateAutoAliases(route: unknown): void;
	sendResponse(req: Req, res: ServerResponse, data: unknown, action: unknown): void;
	sendError(req: Req, res: ServerResponse, err: unknown): void;
	server: Server;
};

/** moleculer-web's own methods, which the gateway's overrides of them call on. */
export const moleculerWeb = (ApiGateway as unknown as { methods: Record<"callAction" | "httpHandler" | "send404" | "sendResponse", (...args: unknown[]) => unknown> }).methods;

/** The two ids of a request: the trace it is in and the correlation id its events and audit entries carry. */
export interface RequestIds {
	/** 32 hex digits: the client's traceparent's trace, else a new one. Moleculer's request id, X-Trace-Id. */
	traceId: string;
	/** The client's span, when it sent a traceparent: the gateway's span is its child. */
	parent?: TraceContext;
	/** The client's X-Request-ID when it is well formed, else the trace id written as a UUID. X-Request-ID. */
	correlationId: string;
	/** Whether the trace is recorded, when the gateway had to know before any context existed (`isRequestSampled`). */
	sampled?: boolean;
}

const idsOfRequests = new WeakMap<IncomingMessage, RequestIds>();

const asUuid = (hex: string) => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;

/** The request's ids, made once per request. */
export function requestIdsOf(req: IncomingMessage): RequestIds {
	let ids = idsOfRequests.get(req);
	if (!ids) {
		const parent = parseTraceparent(req.headers.traceparent);
		const traceId = parent?.traceId ?? newTraceId();
		const header = req.headers["x-request-id"];
		ids = { traceId, parent, correlationId: typeof header === "string" && REQUEST_ID.test(header) ? header : asUuid(traceId) };
		idsOfRequests.set(req, ids);
	}
	return ids;
}

/**
 * Whether the request's spans are recorded: as the client's traceparent says, else as the
 * tracer's sampler says, asked once. The gateway's context then carries that decision
 * (rootCallOptions), so a request the sampler chose is recorded whichever way it goes.
 */
export function isRequestSampled(broker: ServiceBroker, req: IncomingMessage): boolean {
	const ids = requestIdsOf(req);
	if (ids.parent) return ids.parent.sampled;
	ids.sampled ??= broker.tracer.shouldSample({ priority: DEFAULT_SPAN_PRIORITY } as Span);
	return ids.sampled;
}

/** The request's correlation id (X-Request-ID). */
export function requestIdOf(req: IncomingMessage): string {
	return requestIdsOf(req).correlationId;
}

/** Both ids on the answer; X-Request-ID again just before a body goes, as moleculer-web writes Moleculer's request id (the trace id) there. */
export function setIdHeaders(req: IncomingMessage, res: ServerResponse): void {
	const { traceId, correlationId } = requestIdsOf(req);
	if (res.headersSent) return;
	res.setHeader("X-Trace-Id", traceId);
	res.setHeader("X-Request-ID", correlationId);
}
