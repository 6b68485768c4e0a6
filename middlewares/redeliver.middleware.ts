/**
 * A call that reached a node whose service was already leaving (it answers "not
 * available") never ran, so it is safe to send again, to another node, even for
 * actions that must not be retried. Nodes leave gracefully without failing requests.
 */
import type { Context, Middleware, ServiceBroker } from "moleculer";
import { wasNotRun } from "../lib/failures";
import { doublingDelay, sleep } from "../lib/resilience";

const ATTEMPTS = 5;

export function RedeliverMiddleware(): Middleware {
	return {
		name: "Redeliver",
		remoteAction(this: ServiceBroker, handler: (ctx: Context) => Promise<unknown>, action: { name: string }) {
			return (ctx: Context & { _redeliveries?: number }): Promise<unknown> =>
				handler(ctx).catch(async (err: { type?: string; nodeID?: string; data?: { nodeID?: string } }) => {
					const attempt = ctx._redeliveries ?? 0;
					// Only when the refusal came from the node asked, not from a call it made.
					const refusedBy = err.data?.nodeID ?? err.nodeID;
					if (!wasNotRun(err) || refusedBy !== ctx.nodeID || attempt >= ATTEMPTS) throw err;
					await sleep(doublingDelay(attempt, 25));
					const next = ctx.copy() as Context & { _redeliveries?: number };
					next._redeliveries = attempt + 1;
					// Another node than the one leaving, while the registry still lists it.
					const endpoints = (this.registry.getActionEndpoints(action.name)?.endpoints ?? []) as { id: string; isAvailable: boolean }[];
					const others = endpoints.filter(ep => ep.id !== refusedBy && ep.isAvailable);
					const nodeID = others.length > 0 ? others[Math.floor(Math.random() * others.length)].id : undefined;
					return this.call(action.name, ctx.params, { ctx: next, ...(nodeID ? { nodeID } : {}) });
				});
		}
	} as unknown as Middleware;
}
