/**
 * Sends a call again, to another node, when doing so cannot repeat an effect:
 * - the node asked refused it before running it (no such service, leaving, its queue
 *   full): any action;
 * - the node was lost while the call waited on it: only actions that are idempotent
 *   (`idempotent: true`, reads among them) and writes that carry an idempotency key
 *   (`readsIdempotencyKey`, lib/idempotency.ts).
 * Only failures of the call itself count, not those of calls its handler made. Each
 * attempt goes to a node not tried yet while there is one. The node watch
 * (lib/node-watch.ts) makes "lost" take about a second rather than the heartbeat timeout.
 * A timeout is not sent again: the node answered pings, so it is slow, not dead, and
 * another attempt would add load where there is too much already.
 */
import type { Context, Middleware, ServiceBroker } from "moleculer";
import { wasNotRun } from "../lib/failures";
import type { IdempotencyMeta } from "../lib/idempotency";
import { NodeWatch } from "../lib/node-watch";
import { countMetric, registerMetrics, startAtZero } from "../lib/metrics";
import { doublingDelay, sleep } from "../lib/resilience";

/** Attempts after the first: a refusal can come from several leaving nodes in a row. */
const RESENDS = 5;

/** What the middleware reads of an action's definition (lib/resilience.ts sets these). */
interface FailoverAction {
	name: string;
	idempotent?: boolean;
	readsIdempotencyKey?: boolean;
}

interface CallFailure {
	type?: string;
	nodeID?: string;
	data?: { nodeID?: string; action?: string };
}

type FailoverContext = Context<unknown, IdempotencyMeta> & { _failover?: { attempt: number; tried: string[] } };

/** Whether sending the call again cannot repeat its effect, whatever the first attempt did. */
export function isSafeToRepeat(action: FailoverAction, meta: IdempotencyMeta): boolean {
	if (action.idempotent) return true;
	return Boolean(action.readsIdempotencyKey) && (meta.idempotencyKey !== undefined || meta.derivedIdempotencyKey !== undefined);
}

/** Whether `err` says that the node asked failed the call (not one its handler made), and how. */
export function failureOfCall(err: CallFailure, action: FailoverAction, nodeID: string | undefined): "not-run" | "lost" | null {
	if ((err.data?.nodeID ?? err.nodeID) !== nodeID || (err.data?.action !== undefined && err.data.action !== action.name)) return null;
	if (wasNotRun(err) || err.type === "QUEUE_FULL") return "not-run";
	if (err.type === "REQUEST_REJECTED") return "lost";
	return null;
}

/** Why a call was sent again, as `failover_resent_calls_total{reason}` tells it. */
export type ResendReason = "not_run" | "queue_full" | "node_lost";
const RESEND_REASONS: ResendReason[] = ["not_run", "queue_full", "node_lost"];

export function resendReasonOf(err: CallFailure, failure: "not-run" | "lost"): ResendReason {
	if (failure === "lost") return "node_lost";
	return err.type === "QUEUE_FULL" ? "queue_full" : "not_run";
}

export function FailoverMiddleware(): Middleware {
	let watch: NodeWatch | undefined;
	return {
		name: "Failover",
		created(broker: ServiceBroker) {
			registerMetrics(broker, [
				{
					name: "failover_resent_calls_total",
					type: "counter",
					labelNames: ["action", "reason"],
					description: "Calls sent again to another node because the node asked refused them unrun, had its queue full, or was lost"
				}
			]);
			watch = new NodeWatch(broker);
		},
		started() {
			watch?.start();
		},
		stopped() {
			watch?.stop();
		},
		remoteAction(this: ServiceBroker, handler: (ctx: Context) => Promise<unknown>, action: FailoverAction) {
			for (const reason of RESEND_REASONS) startAtZero(this, "failover_resent_calls_total", { action: action.name, reason });
			return (ctx: FailoverContext): Promise<unknown> => {
				const done = ctx.nodeID ? watch?.track(ctx.nodeID) : undefined;
				return handler(ctx)
					.finally(done)
					.catch(async (err: CallFailure) => {
						const failure = failureOfCall(err, action, ctx.nodeID ?? undefined);
						const state = ctx._failover ?? { attempt: 0, tried: [] };
						if (!failure || state.attempt >= RESENDS || (failure === "lost" && !isSafeToRepeat(action, ctx.meta))) throw err;
						countMetric(this, "failover_resent_calls_total", { action: action.name, reason: resendReasonOf(err, failure) });
						const tried = [...state.tried, ctx.nodeID!];
						const untried = (this.registry.getActionEndpoints(action.name)?.endpoints ?? []).filter(ep => ep.isAvailable && !tried.includes(ep.id));
						const nodeID = untried[Math.floor(Math.random() * untried.length)]?.id;
						// With every node tried, the next attempt waits a little and lets the balancer choose.
						if (!nodeID) await sleep(doublingDelay(state.attempt, 25));
						const next = ctx.copy() as FailoverContext;
						next._failover = { attempt: state.attempt + 1, tried };
						return this.call(action.name, ctx.params, { ctx: next, ...(nodeID ? { nodeID } : {}) });
					});
			};
		}
	} as unknown as Middleware;
}
