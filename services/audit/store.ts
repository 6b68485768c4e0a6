/**
 * Where the audit trail lives, behind one interface: SQL now (the audit service's own
 * database), Elasticsearch when ELASTICSEARCH_URL is set (a later store).
 */
import type { Transaction } from "sequelize";
import type { Database } from "../../mixins/database";
import { offsetOf, pageOf, type Page, type PageQuery } from "../shared/params";

export interface AuditEntry {
	/** The event id, or the request record's id: an entry is stored once per id. */
	id: string;
	kind: "event" | "request";
	type: string;
	source: string;
	aggregateId: string | null;
	correlationId: string;
	actor: string | null;
	occurredAt: string;
	payload: Record<string, unknown>;
}

export interface AuditQuery extends PageQuery {
	type?: string;
	aggregateId?: string;
	correlationId?: string;
	from?: Date;
	to?: Date;
	/** Text searched for in the payload, case-insensitively. */
	q?: string;
}

export interface AuditStore {
	/** Stores an entry unless one with its id exists; returns whether it was new. */
	save(entry: AuditEntry, tx?: Transaction): Promise<boolean>;
	/** Entries matching the query, newest first. */
	search(query: AuditQuery): Promise<Page<AuditEntry>>;
}

interface Row {
	id: string;
	kind: "event" | "request";
	type: string;
	source: string;
	aggregate_id: string | null;
	correlation_id: string;
	actor: string | null;
	occurred_at: string | Date;
	payload: string;
}

export class SqlAuditStore implements AuditStore {
	constructor(private readonly db: Database) {}

	async save(entry: AuditEntry, tx?: Transaction): Promise<boolean> {
		const inserted = await this.db.rows(
			`INSERT INTO audit_entries (id, kind, type, source, aggregate_id, correlation_id, actor, occurred_at, payload, recorded_at)
			 VALUES (:id, :kind, :type, :source, :aggregateId, :correlationId, :actor, :occurredAt, :payload, :recordedAt)
			 ON CONFLICT (id) DO NOTHING RETURNING id`,
			{ ...entry, payload: JSON.stringify(entry.payload), recordedAt: new Date().toISOString() },
			tx
		);
		return inserted.length > 0;
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
		add("occurred_at >= :from", "from", query.from?.toISOString());
		add("occurred_at <= :to", "to", query.to?.toISOString());
		const contains = this.db.dialect === "postgres" ? "strpos" : "instr";
		add(`${contains}(lower(payload), :q) > 0`, "q", query.q?.toLowerCase());
		const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "";
		const [{ total }] = await this.db.rows<{ total: number | string }>(`SELECT count(*) AS total FROM audit_entries ${where}`, params);
		const rows = await this.db.rows<Row>(
			`SELECT id, kind, type, source, aggregate_id, correlation_id, actor, occurred_at, payload FROM audit_entries ${where}
			 ORDER BY occurred_at DESC, id DESC LIMIT :limit OFFSET :offset`,
			{ ...params, limit: query.pageSize, offset: offsetOf(query) }
		);
		return pageOf(
			query,
			rows.map(row => ({
				id: row.id,
				kind: row.kind,
				type: row.type,
				source: row.source,
				aggregateId: row.aggregate_id,
				correlationId: row.correlation_id,
				actor: row.actor,
				occurredAt: new Date(row.occurred_at).toISOString(),
				payload: JSON.parse(row.payload)
			})),
			Number(total)
		);
	}
}
