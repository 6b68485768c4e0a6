/**
 * The W3C Trace Context (`traceparent`, https://www.w3.org/TR/trace-context/) as the nodes
 * pass it on where Moleculer cannot: from an HTTP client into the gateway, and through the
 * outbox and Kafka, in the event envelope and as a Kafka header.
 *
 * Ids are lowercase hex: a trace id of 32 digits, a span id of 16. Moleculer's span ids are
 * UUIDs; the span id a traceparent (and Zipkin) gives for one is its first 16 hex digits.
 */
import { randomUUID } from "node:crypto";

export interface TraceContext {
	traceId: string;
	/** The span the next one continues (the traceparent's parent-id). */
	spanId: string;
	/** Whether the trace is recorded; an unsampled trace is passed on without spans. */
	sampled: boolean;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const TRACE_ID = /^[0-9a-f]{32}$/;
const ZEROS = /^0+$/;

/**
 * A new random trace id: 32 hex digits, never all zeros. A version 4 UUID without its dashes:
 * 122 random bits, the right-most 7 bytes all random as W3C asks, and Node draws UUIDs from a
 * pool, where `randomBytes(16)` costs a system call per request (2 µs, a tenth of a cached read).
 */
export function newTraceId(): string {
	const u = randomUUID();
	return u.slice(0, 8) + u.slice(9, 13) + u.slice(14, 18) + u.slice(19, 23) + u.slice(24);
}

export function isTraceId(id: unknown): id is string {
	return typeof id === "string" && TRACE_ID.test(id) && !ZEROS.test(id);
}

/** The span id a traceparent carries for a Moleculer span or context id (a UUID or hex). */
export function spanIdOf(id: string): string {
	return id.replace(/-/g, "").toLowerCase().slice(0, 16).padStart(16, "0");
}

/** The trace id as Zipkin and a traceparent write it: a UUID loses its dashes. */
export function traceIdOf(id: string): string {
	return id.replace(/-/g, "").toLowerCase();
}

export function formatTraceparent({ traceId, spanId, sampled }: TraceContext): string {
	return `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`;
}

/**
 * A traceparent header as W3C defines it, or undefined when it is not one (then a new trace
 * starts). Version ff and all-zero ids are invalid; a later version is read as version 00.
 */
export function parseTraceparent(header: unknown): TraceContext | undefined {
	if (typeof header !== "string") return undefined;
	const match = TRACEPARENT.exec(header.trim());
	if (!match) return undefined;
	const [, version, traceId, spanId, flags, rest] = match;
	if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
	if (ZEROS.test(traceId) || ZEROS.test(spanId)) return undefined;
	return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

/** The trace id of a traceparent, or undefined. */
export function traceIdOfTraceparent(header: unknown): string | undefined {
	return parseTraceparent(header)?.traceId;
}

interface SpanLike {
	id: string;
	traceID: string;
	sampled: boolean;
}
interface ContextLike {
	id: string;
	requestID?: string | null;
	tracing?: boolean | null;
	span?: SpanLike | null;
}

/**
 * The trace context a context's work is in: its active span's, or, when no span records it
 * (tracing off, or its span has finished), its request id's (the trace id) and its own id
 * (the id of its action's span).
 * Undefined when the request id is no trace id (a context no gateway or relay started).
 */
export function traceContextOf(ctx: ContextLike): TraceContext | undefined {
	if (ctx.span) return { traceId: traceIdOf(ctx.span.traceID), spanId: spanIdOf(ctx.span.id), sampled: ctx.span.sampled };
	if (ctx.requestID == null) return undefined;
	const traceId = traceIdOf(ctx.requestID);
	return isTraceId(traceId) ? { traceId, spanId: spanIdOf(ctx.id), sampled: ctx.tracing === true } : undefined;
}

/** Moleculer's `parentSpan` call option for a trace context: the call's spans continue it. */
export function parentSpanOf(trace: TraceContext): { id: string; traceID: string; sampled: boolean } {
	return { id: trace.spanId, traceID: trace.traceId, sampled: trace.sampled };
}
