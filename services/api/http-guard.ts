/**
 * HTTP hardening around moleculer-web: requests Node's parser refuses, paths that cannot
 * be decoded, `Expect: 100-continue`, the request timeout, OPTIONS and HEAD, and 405 for a
 * method a path does not have.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { Errors } from "moleculer";
import { moleculerWeb, requestIdOf, type ApiThis, type Req } from "./gateway";
import { framingProblem } from "./problem";
import { missingRoutes } from "./health";
import { awaitContinue } from "./request-body";

/** How long a client may take to send a whole request (Node's default is 5 minutes). */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Connections the kernel may complete and queue before the gateway accepts them (the kernel
 * caps it at net.core.somaxconn). moleculer-web listens with Node's default, 511: thousands
 * of clients connecting at once overflowed it, and a connection whose handshake was dropped
 * waited on TCP retransmissions for seconds (bench scenario (u): p50 from 8 ms to 2 s).
 */
export const LISTEN_BACKLOG = 4096;

const METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** Bounds how long the server waits for a request, and answers what never becomes one. */
export function guardServer(server: Server): void {
	server.requestTimeout = REQUEST_TIMEOUT_MS;
	raiseListenBacklog(server);
	// Without this listener Node sends `100 Continue` before the gateway has looked at the
	// request; with it, the body is asked for only when it is about to be read.
	server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
		awaitContinue(req);
		server.emit("request", req, res);
	});
	server.on("clientError", answerClientError);
}

/**
 * Sets the accept queue of the listening socket to LISTEN_BACKLOG. moleculer-web has called
 * listen() by the time the gateway's started() runs, and Node offers no way to change a
 * listening server's backlog; listen(2) on a listening socket does, and the server's libuv
 * handle calls it again when asked to listen again.
 */
function raiseListenBacklog(server: Server): void {
	const apply = () => (server as Server & { _handle?: { listen?(backlog: number): number } | null })._handle?.listen?.(LISTEN_BACKLOG);
	if (server.listening) apply();
	else server.once("listening", apply);
}

/** A request Node's parser refused (malformed framing, headers too large, too slow): a problem, then the connection closes. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
	// As Node's own handler does: only when no response on this connection has begun, so a
	// client never gets half of one answer followed by another.
	const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
	if (err.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent) return void socket.destroy();
	const problem = framingProblem(err);
	problem.requestId = randomUUID();
	const body = JSON.stringify(problem);
	socket.end(
		`HTTP/1.1 ${problem.status} ${problem.title}\r\n` +
			"Content-Type: application/problem+json; charset=utf-8\r\n" +
			`Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-ID: ${problem.requestId}\r\nConnection: close\r\n\r\n${body}`,
		() => socket.destroy()
	);
}

/** The request's path as moleculer-web matches it: no query, no trailing slash. */
function pathOf(req: Req): string {
	const path = req.parsedUrl ?? (req.url ?? "").split("?")[0];
	return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/** The methods some route has for `path`, in the order HTTP lists them; none when no route has the path. */
function allowedMethods(service: ApiThis, path: string): string[] {
	const methods = new Set(service.aliases.filter(alias => alias.match(path)).map(alias => alias.method));
	if (methods.size === 0) return [];
	if (methods.has("GET")) methods.add("HEAD");
	methods.add("OPTIONS");
	return METHOD_ORDER.filter(method => methods.has(method));
}

/** Whether a segment of the path is not valid percent-encoded UTF-8 (`%zz`, `%C0%AF`): no route can be matched on it. */
function hasUndecodableSegment(path: string): boolean {
	return path.split("/").some(segment => {
		try {
			decodeURIComponent(segment);
			return false;
		} catch {
			return true;
		}
	});
}

/** Answers what moleculer-web should not see, then hands the request to moleculer-web's own handler. */
export function guardHttp(service: ApiThis, req: Req, res: ServerResponse, next?: unknown) {
	// A request target that cannot be read is malformed like bad framing: 400 on any path, for any method, before the key.
	if (hasUndecodableSegment(pathOf(req)))
		return service.sendError(req, res, new Errors.MoleculerClientError("A segment of the path is not valid percent-encoded UTF-8.", 400, "MALFORMED_PATH"));
	// No CORS: the gateway answers OPTIONS itself. moleculer-web would otherwise run the
	// action of the method a preflight names (Access-Control-Request-Method).
	if (req.method === "OPTIONS") {
		const allowed = allowedMethods(service, pathOf(req));
		if (allowed.length === 0) return moleculerWeb.send404.call(service, req, res);
		res.writeHead(204, { Allow: allowed.join(", "), "X-Request-ID": requestIdOf(req) });
		return void res.end();
	}
	// HEAD is a GET whose body Node leaves out.
	if (req.method === "HEAD") req.method = "GET";
	return moleculerWeb.httpHandler.call(service, req, res, next);
}

/** moleculer-web's answer to a request no route took: 405 with `Allow` when the path exists for other methods, else 404. */
export function answerNotRouted(this: ApiThis, req: Req, res: ServerResponse) {
	const path = pathOf(req);
	const allowed = allowedMethods(this, path);
	// A path of a service whose routes the gateway has not got yet (the node is starting, or the
	// service runs nowhere) is that service being unavailable, not a path that does not exist.
	const service = /^\/api\/v1\/([^/]+)/.exec(path)?.[1];
	if (allowed.length === 0 && service && missingRoutes(this).includes(service))
		return this.sendError(req, res, new Errors.MoleculerRetryableError(`${service} is not available yet; try again shortly.`, 503, "SERVICE_NOT_AVAILABLE"));
	if (allowed.length === 0) return moleculerWeb.send404.call(this, req, res);
	res.setHeader("Allow", allowed.join(", "));
	this.sendError(req, res, new Errors.MoleculerClientError(`${req.method} is not allowed on ${path}; Allow lists the methods that are.`, 405, "METHOD_NOT_ALLOWED"));
}
