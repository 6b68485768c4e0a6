/** What the audit trail holds: entries made from domain events and gateway request records, and the store they go in. */
import type { EventEnvelope, RequestRecord } from "../../contracts/events";
import { traceIdOfTraceparent } from "../../contracts/trace-context";
import type { Page, PageQuery } from "../../lib/params";

export interface AuditEntry {
	/** The event id, or the request record's id: an entry is stored once per id. */
	id: string;
	kind: "event" | "request";
	type: string;
	source: string;
	aggregateId: string | null;
	correlationId: string;
	/** The trace of the request or event (as in X-Trace-Id and in Zipkin); null before tracing was added. */
	traceId: string | null;
	actor: string | null;
	occurredAt: string;
	payload: Record<string, unknown>;
}

export interface AuditQuery extends PageQuery {
	type?: string;
	aggregateId?: string;
	correlationId?: string;
	traceId?: string;
	from?: Date;
	to?: Date;
	/** Text searched for in the payload, case-insensitively. */
	q?: string;
}

export interface AuditStore {
	/** Stores an entry unless one with its id exists; returns whether it was new. */
	save(entry: AuditEntry): Promise<boolean>;
	/** Entries matching the query, newest first. */
	search(query: AuditQuery): Promise<Page<AuditEntry>>;
	/** Settles every save under way; called while the service's database is still open. */
	close(): Promise<void>;
	/** "up", or "down: why", for a store outside the service's database. */
	health?(): Promise<string>;
}

/** The audit entry of a gateway request record. */
export function requestEntry(record: RequestRecord): AuditEntry {
	const { id, occurredAt, actor, correlationId, traceId, ...request } = record;
	return {
		id,
		kind: "request",
		type: "http.request",
		source: "api",
		aggregateId: null,
		correlationId,
		traceId: traceId ?? null,
		actor,
		occurredAt,
		payload: request
	};
}

export function eventEntry(event: EventEnvelope): AuditEntry {
	return {
		id: event.id,
		kind: "event",
		type: event.type,
		source: event.source,
		aggregateId: event.aggregateId,
		correlationId: event.correlationId,
		traceId: traceIdOfTraceparent(event.traceparent) ?? null,
		actor: event.actor ?? null,
		occurredAt: event.occurredAt,
		payload: event.payload as unknown as Record<string, unknown>
	};
}

