/** The audit store on the audit service's own database: every statement on `audit_entries`. */
import type { Database } from "../../lib/database";
import { pageOf, type Page } from "../../lib/params";
import { selectPage, windowOf, type KeyOrder } from "../../lib/keyset";
import { SaveBatcher } from "./audit.batcher";
import type { AuditEntry, AuditQuery, AuditStore } from "./audit.domain";

interface Row {
	id: string;
	kind: "event" | "request";
	type: string;
	source: string;
	aggregate_id: string | null;
	correlation_id: string;
	trace_id: string | null;
	actor: string | null;
	occurred_at: string | Date;
	payload: string;
}

/** The trail, newest first (the id breaks ties); the Elasticsearch store sorts the same way. */
const AUDIT_ORDER: KeyOrder = [
	{ attribute: "occurredAt", column: "occurred_at", direction: "DESC", kind: "timestamp" },
	{ attribute: "id", column: "id", direction: "DESC", kind: "text" }
];

/**
 * Saves arriving within a few milliseconds (up to 200) are written by one multi-row
 * insert: one statement and one commit for a burst of events.
 */
export class SqlAuditStore implements AuditStore {
	private readonly batcher = new SaveBatcher<AuditEntry, boolean>(entries => this.write(entries), 5, 200);

	constructor(private readonly db: Database) {}

	save(entry: AuditEntry): Promise<boolean> {
		return this.batcher.add(entry);
	}

	close(): Promise<void> {
		return this.batcher.close();
	}

	/** One statement for the batch; a save is new if it is the first of its id in the batch and its row was inserted. */
	private async write(entries: AuditEntry[]): Promise<boolean[]> {
		const firstAt = new Map<string, number>();
		entries.forEach((entry, i) => firstAt.has(entry.id) || firstAt.set(entry.id, i));
		// In id order, so two batches that share ids (a redelivery) never wait on each other crosswise.
		const inserted = await this.insert([...firstAt.keys()].sort().map(id => entries[firstAt.get(id)!]));
		return entries.map((entry, i) => firstAt.get(entry.id) === i && inserted.has(entry.id));
	}

	/** Inserts the entries whose id is not stored yet; returns the ids it inserted. */
	private async insert(entries: AuditEntry[]): Promise<Set<string>> {
		const recordedAt = new Date().toISOString();
		// An array of arrays is written as "(...), (...)", one row each.
		const rows = entries.map(e => [e.id, e.kind, e.type, e.source, e.aggregateId, e.correlationId, e.traceId, e.actor, e.occurredAt, JSON.stringify(e.payload), recordedAt]);
		const inserted = await this.db.rows<{ id: string }>(
			`INSERT INTO audit_entries (id, kind, type, source, aggregate_id, correlation_id, trace_id, actor, occurred_at, payload, recorded_at)
			 VALUES :rows ON CONFLICT (id) DO NOTHING RETURNING id`,
			{ rows }
		);
		return new Set(inserted.map(row => row.id));
	}

	async search(query: AuditQuery): Promise<Page<AuditEntry>> {
		const conditions: string[] = [];
		const params: Record<string, unknown> = {};
		const add = (sql: string, name: string, value: unknown) => {
			if (value === undefined) return;
			conditions.push(sql);
			params[name] = value;
		};
		add("type = :type", "type", query.type);
		add("aggregate_id = :aggregateId", "aggregateId", query.aggregateId);
		add("correlation_id = :correlationId", "correlationId", query.correlationId);
		add("trace_id = :traceId", "traceId", query.traceId);
		add("occurred_at >= :from", "from", query.from?.toISOString());
		add("occurred_at <= :to", "to", query.to?.toISOString());
		const contains = this.db.dialect === "postgres" ? "strpos" : "instr";
		add(`${contains}(lower(payload), :q) > 0`, "q", query.q?.toLowerCase());
		const { items, total, nextCursor } = await selectPage<Row, AuditEntry>(
			this.db,
			{ columns: "id, kind, type, source, aggregate_id, correlation_id, trace_id, actor, occurred_at, payload", table: "audit_entries", conditions, replacements: params, order: AUDIT_ORDER },
			windowOf(query, AUDIT_ORDER),
			row => ({
				id: row.id,
				kind: row.kind,
				type: row.type,
				source: row.source,
				aggregateId: row.aggregate_id,
				correlationId: row.correlation_id,
				traceId: row.trace_id,
				actor: row.actor,
				occurredAt: new Date(row.occurred_at).toISOString(),
				payload: JSON.parse(row.payload)
			})
		);
		return pageOf(query, items, total, nextCursor);
	}
}
