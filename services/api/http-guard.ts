/** HTTP hardening in front of moleculer-web: OPTIONS, HEAD, the body size limit and the request timeout. */
import type { Server, ServerResponse } from "node:http";
import { moleculerWeb, type ApiThis, type Req } from "./gateway";

export const MAX_BODY_BYTES = 1024 * 1024;
/** How long a client may take to send a whole request (Node's default is 5 minutes). */
const REQUEST_TIMEOUT_MS = 30_000;

/** Bounds how long the server waits for a request. */
export function guardServer(server: Server): void {
	server.requestTimeout = REQUEST_TIMEOUT_MS;
}

/** Answers what moleculer-web should not see, then hands the request to moleculer-web's own handler. */
export function guardHttp(service: ApiThis, req: Req, res: ServerResponse, next?: unknown) {
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
		return service.sendError(req, res, Object.assign(new Error("request entity too large"), { type: "entity.too.large" }));
	}
	return moleculerWeb.httpHandler.call(service, req, res, next);
}
