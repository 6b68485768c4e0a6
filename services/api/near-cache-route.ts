/**
 * Cached GETs answered at the gateway from the near cache, and the last answer it has for
 * a product read whose service failed, marked stale.
 *
 * A GET answered from the near cache is remembered by its request target (`rememberRead`): the
 * next GET of the same target with a valid key is answered from the near cache before
 * moleculer-web routes it, builds a context and runs the middlewares (`answerKnownRead`).
 * The same target gives the same alias, params, validation and input checks, so only what
 * depends on the sender or the moment is checked again: the key, the rate limit, a body,
 * the service being reachable, and the cache version. With tracing on, only requests whose
 * trace is not recorded take that lane.
 */
import type { ServerResponse } from "node:http";
import type { CallingOptions } from "moleculer";
import ApiGateway from "moleculer-web";
import { toProblem } from "./problem";
import { isCached, nearCacheOf, type Answer, type CachedActionDef } from "../../middlewares/near-cache.middleware";
import { actorOf } from "./auth";
import { hasBody } from "./request-body";
import { isRequestSampled, moleculerWeb, setIdHeaders, type ApiThis, type Req } from "./gateway";

type Route = { callOptions?: Record<string, unknown> };

/** moleculer-web's rate limit of a route, as it builds it from the route's `rateLimit`. */
interface RateLimit {
	limit: number;
	headers: boolean;
	key(req: Req): string | undefined;
	store: { resetTime: number; inc(key: string): number | Promise<number> };
}

/** A request target answered from the near cache once, and what its answers are kept under. */
interface KnownRead {
	def: CachedActionDef;
	key: string;
	alias: NonNullable<Req["$alias"]> & { route?: { rateLimit?: RateLimit } };
}

const MAX_KNOWN_READS = 20_000;

const knownReadsOf = new WeakMap<ApiThis, Map<string, KnownRead>>();

function knownReads(service: ApiThis): Map<string, KnownRead> {
	let reads = knownReadsOf.get(service);
	if (!reads) knownReadsOf.set(service, (reads = new Map()));
	return reads;
}

function rememberRead(service: ApiThis, target: string, read: KnownRead): void {
	const reads = knownReads(service);
	if (reads.has(target)) return;
	reads.set(target, read);
	if (reads.size > MAX_KNOWN_READS) reads.delete(reads.keys().next().value!);
}

/** Counts the request against its route's rate limit as moleculer-web does; false when it is over. */
async function withinRateLimit(rateLimit: RateLimit | undefined, req: Req, res: ServerResponse): Promise<boolean> {
	const key = rateLimit?.key(req);
	if (!rateLimit || !key) return true;
	// Both stores the gateway uses count synchronously; a store that answers later is waited for.
	const counted = rateLimit.store.inc(key);
	const remaining = rateLimit.limit - (typeof counted === "number" ? counted : await counted);
	if (rateLimit.headers) {
		res.setHeader("X-Rate-Limit-Limit", rateLimit.limit);
		res.setHeader("X-Rate-Limit-Remaining", Math.max(0, remaining));
		res.setHeader("X-Rate-Limit-Reset", rateLimit.store.resetTime);
	}
	return remaining >= 0;
}

/**
 * Answers a GET of a known target from the near cache; false, having answered nothing and
 * counted nothing, when it is not one (moleculer-web then takes it). A request whose trace
 * is recorded goes the whole way, so its spans are what they say; one not sampled has no
 * spans to make and takes this lane.
 */
export async function answerKnownRead(service: ApiThis, req: Req, res: ServerResponse): Promise<boolean> {
	if (req.method !== "GET") return false;
	const read = knownReads(service).get(req.url!);
	const near = nearCacheOf(service.broker);
	if (!read || !near || hasBody(req) || actorOf(service.broker, req) === undefined) return false;
	if (!service.broker.registry.actions.get(read.def.name)?.hasAvailable()) return false;
	if (service.broker.isTracingEnabled() && isRequestSampled(service.broker, req)) return false;
	const answer = await near.freshAnswer(read.def, read.key);
	if (!answer || res.headersSent) return false;
	req.$alias = read.alias;
	const rateLimit = read.alias.route?.rateLimit;
	if (!(await withinRateLimit(rateLimit, req, res))) {
		req.$route = read.alias.route;
		service.sendError(req, res, new ApiGateway.Errors.RateLimitExceeded("RATE_LIMIT_EXCEEDED"));
		return true;
	}
	sendJson(res, answer);
	return true;
}

function sendJson(res: ServerResponse, answer: Answer): void {
	answer.json ??= JSON.stringify(answer.value);
	res.statusCode = 200;
	res.setHeader("Content-Type", "application/json; charset=utf-8");
	res.end(answer.json);
}

/**
 * moleculer-web's callAction, except for GETs of cached actions: while the service's
 * cache version holds, they are answered from the near cache with the JSON it
 * serialized once, without calling the action at all.
 */
export async function callAction(this: ApiThis, route: Route, actionName: string, req: Req, res: ServerResponse, params: unknown, isStream: boolean) {
	const near = nearCacheOf(this.broker);
	const endpoint = req.$endpoint;
	if (!near || req.method !== "GET" || !endpoint || !isCached(endpoint.action))
		return moleculerWeb.callAction.call(this, route, actionName, req, res, params, isStream);
	const ctx = req.$ctx!;
	const answer = await near.answer(endpoint.action, params, () => ctx.call(endpoint as never, params, { ...route.callOptions, nearCache: false } as CallingOptions));
	if ((ctx.meta as { $statusCode?: number }).$statusCode !== undefined || res.headersSent) {
		this.sendResponse(req, res, answer.value, endpoint.action);
		return true;
	}
	if (answer.key !== undefined && req.$alias && req.originalUrl) rememberRead(this, req.originalUrl, { def: endpoint.action, key: answer.key, alias: req.$alias });
	setIdHeaders(req, res);
	sendJson(res, answer);
	return true;
}

/**
 * A product read whose service failed or whose circuit is open is answered with the
 * last answer the near cache has for it, marked stale, when there is one.
 */
export function answerStale(service: ApiThis, req: Req, res: ServerResponse, err: unknown): boolean {
	const { problem } = toProblem(err);
	const action = req.$alias?.action;
	if (req.method !== "GET" || !action || problem.status < 500 || res.headersSent) return false;
	const stale = nearCacheOf(service.broker)?.staleAnswer(action, req.$params);
	if (stale === undefined) return false;
	service.logger.warn(`${action} failed (${problem.code}); answering the last known result, marked stale.`);
	res.setHeader("Content-Type", "application/json; charset=utf-8");
	res.setHeader("Warning", '110 - "Response is Stale"');
	res.setHeader("X-Cache", "STALE");
	setIdHeaders(req, res);
	res.writeHead(200);
	res.end(JSON.stringify(stale));
	return true;
}
