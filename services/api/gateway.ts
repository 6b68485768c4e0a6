/** What the gateway's files share: the request and service shapes, moleculer-web's own methods, the request id. */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import ApiGateway from "moleculer-web";
import type { Context, Service } from "moleculer";
import { REQUEST_ID } from "../../lib/params";
import type { CachedActionDef } from "../../middlewares/near-cache.middleware";

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
export const moleculerWeb = (ApiGateway as unknown as { methods: Record<"callAction" | "httpHandler" | "send404", (...args: unknown[]) => unknown> }).methods;

/** The client's X-Request-ID when it is well formed, else a new one. */
export function requestIdOf(req: IncomingMessage): string {
	const header = req.headers["x-request-id"];
	return typeof header === "string" && REQUEST_ID.test(header) ? header : randomUUID();
}
