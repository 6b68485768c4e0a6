/**
 * What a log line written while a call or an event is handled says about it (trace,
 * correlation and event ids, the action), however deep the line is written: one
 * AsyncLocalStorage store, set around each local action and event (middlewares/log-context.middleware.ts;
 * the gateway's requests are its `api.rest` action) and each event a relay publishes or a consumer handles.
 * The JSON log formatter (lib/json-log.ts) reads it.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { originOf } from "../contracts/events";
import { traceIdOf, traceIdOfTraceparent } from "../contracts/trace-context";

export interface LogContext {
	traceId?: string;
	correlationId?: string;
	eventId?: string;
	action?: string;
}

/** The parts of a Moleculer context the fields come from. */
export interface CallLike {
	id: string;
	requestID?: string | null;
	meta: object & { user?: { name?: string }; correlationId?: string };
	span?: { id: string; traceID: string; sampled: boolean } | null;
	action?: { name?: string } | null;
}

interface Store {
	/** Read when a line is written: the tracing span is opened inside the call, after the store is set. */
	call?: CallLike;
	fields?: LogContext;
}

const storage = new AsyncLocalStorage<Store>();

function fieldsOf(ctx: CallLike): LogContext {
	return {
		// As Zipkin shows it: contexts Moleculer starts itself (timers, the REPL) have a dashed UUID.
		traceId: traceIdOfCall(ctx),
		correlationId: originOf(ctx).correlationId,
		action: ctx.action?.name
	};
}

function traceIdOfCall(ctx: CallLike): string | undefined {
	const id = ctx.span?.traceID ?? ctx.requestID;
	return id ? traceIdOf(id) : undefined;
}

/** The fields of the line being written now; empty outside any call. */
export function currentLogContext(): LogContext {
	const store = storage.getStore();
	if (!store) return {};
	return { ...(store.call ? fieldsOf(store.call) : {}), ...store.fields };
}

/** Runs `work` with the lines it writes carrying the ids of the call `ctx`. */
export function inCallLogContext<T>(ctx: CallLike, work: () => T): T {
	return storage.run({ call: ctx }, work);
}

/**
 * Runs `work` with the lines it writes carrying an event's ids, on top of the call it runs
 * in. `ownTrace`: the call is not the event's (one call hands a consumer the events of many
 * requests), so the lines carry the trace the event carries.
 */
export function inEventLogContext<T>(event: { id: string; correlationId?: string; traceparent?: string }, work: () => T, { ownTrace = false } = {}): T {
	const outer = storage.getStore();
	const fields: LogContext = { ...outer?.fields, eventId: event.id };
	if (event.correlationId !== undefined) fields.correlationId = event.correlationId;
	// Outside any call (a Kafka consumer), the trace is the one the event carries.
	const traceId = outer?.call && !ownTrace ? undefined : traceIdOfTraceparent(event.traceparent);
	if (traceId !== undefined) fields.traceId = traceId;
	return storage.run({ call: outer?.call, fields }, work);
}

/** Runs `work` in no call's context: for work a call only sets off, such as an outbox pass over other calls' events. */
export function outsideLogContext<T>(work: () => T): T {
	return storage.exit(work);
}
