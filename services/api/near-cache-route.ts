/**
 * Cached GETs answered at the gateway from the near cache, and the last answer it has for
 * a product read whose service failed, marked stale.
 */
import type { ServerResponse } from "node:http";
import type { CallingOptions } from "moleculer";
import { toProblem } from "./problem";
import { isCached, nearCacheOf } from "../../middlewares/near-cache.middleware";
import { moleculerWeb, setIdHeaders, type ApiThis, type Req } from "./gateway";

type Route = { callOptions?: Record<string, unknown> };

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
	answer.json ??= JSON.stringify(answer.value);
	setIdHeaders(req, res);
	res.statusCode = 200;
	res.setHeader("Content-Type", "application/json; charset=utf-8");
	res.end(answer.json);
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
