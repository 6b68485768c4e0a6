/**
 * Puts each local action and event in its log context (lib/log-context.ts), so every
 * line written while it runs, however deep, carries its trace and correlation ids.
 * Listed last, it wraps every other middleware and the lines they write.
 */
import type { Context, Middleware } from "moleculer";
import { inCallLogContext, type CallLike } from "../lib/log-context";

export function LogContextMiddleware(): Middleware {
	const wrap = (handler: (ctx: Context) => Promise<unknown>) => (ctx: Context) => inCallLogContext(ctx as unknown as CallLike, () => handler(ctx));
	return { name: "LogContext", localAction: wrap, localEvent: wrap } as unknown as Middleware;
}
