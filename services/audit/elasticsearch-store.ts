/**
 * The audit trail in Elasticsearch (ELASTICSEARCH_URL set), behind the same interface as
 * the SQL store: monthly indices `audit-YYYY.MM` made from one index template, document
 * id = event id (a redelivery overwrites instead of duplicating), writes gathered into
 * `_bulk` requests, searches over `audit-*`. Only what the test distribution offers is
 * used: no scripts, no ingest pipelines, no delete-by-query.
 */
import { Client } from "@elastic/elasticsearch";
import { Errors } from "moleculer";
import { pageOf, offsetOf, type Page } from "../shared/params";
import type { AuditEntry, AuditQuery, AuditStore } from "./store";

const TEMPLATE = "audit";
const FLUSH_MS = 20;
const MAX_BATCH = 500;

interface Pending {
	entry: AuditEntry;
	done: (err?: unknown) => void;
}

/**
 * Elasticsearch away, starting up or overloaded (no connection, 5xx, 429) is an outage:
 * said as a retryable 503, so consumers wait for it instead of parking the event.
 */
function asOutage(err: unknown): unknown {
	const e = err as { name?: string; meta?: { statusCode?: number }; message?: string };
	const status = e?.meta?.statusCode;
	const transient = /Connection|Timeout|NoLivingConnections/.test(String(e?.name)) || status === 429 || (status !== undefined && status >= 500);
	return transient ? new Errors.MoleculerRetryableError(`Elasticsearch is unavailable: ${e?.message}`, 503, "SERVICE_UNAVAILABLE") : err;
}

export function monthlyIndex(prefix: string, occurredAt: string): string {
	const at = new Date(occurredAt);
	return `${prefix}-${at.getUTCFullYear()}.${String(at.getUTCMonth() + 1).padStart(2, "0")}`;
}

export class ElasticsearchAuditStore implements AuditStore {
	private queue: Pending[] = [];
	private timer?: NodeJS.Timeout;
	/** False until the template is known to be there: after an outage the cluster may be a new one. */
	private templateReady = false;

	constructor(
		readonly client: Client,
		private readonly prefix = "audit"
	) {}

	static connect(url: string, prefix?: string): ElasticsearchAuditStore {
		return new ElasticsearchAuditStore(new Client({ node: url, requestTimeout: 10_000 }), prefix);
	}

	/** Installs the index template (idempotent); every monthly index takes its mappings from it. */
	async init(): Promise<void> {
		this.templateReady = false;
		await this.client.indices.putIndexTemplate({
			name: `${this.prefix}-${TEMPLATE}`,
			index_patterns: [`${this.prefix}-*`],
			template: {
				settings: { number_of_shards: 1, number_of_replicas: 0 },
				mappings: {
					dynamic: false,
					properties: {
						id: { type: "keyword" },
						kind: { type: "keyword" },
						type: { type: "keyword" },
						source: { type: "keyword" },
						aggregateId: { type: "keyword" },
						correlationId: { type: "keyword" },
						actor: { type: "keyword" },
						occurredAt: { type: "date" },
						// The payload is kept as it is and searched as text, so no event can
						// grow the mapping.
						payload: { type: "object", enabled: false },
						payloadText: { type: "text" }
					}
				}
			}
		});
		this.templateReady = true;
	}

	/** Up when the cluster answers with a usable status. */
	async health(): Promise<string> {
		const health = await this.client.cluster.health({ timeout: "2s" });
		return health.status === "red" ? "down: cluster status red" : "up";
	}

	/** Resolves once the bulk request carrying the entry has been acknowledged. */
	save(entry: AuditEntry): Promise<boolean> {
		return new Promise<boolean>((resolve, reject) => {
			this.queue.push({ entry, done: err => (err ? reject(err) : resolve(true)) });
			if (this.queue.length >= MAX_BATCH) void this.flush();
			else this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
		});
	}

	private async flush(): Promise<void> {
		clearTimeout(this.timer);
		this.timer = undefined;
		const batch = this.queue.splice(0, MAX_BATCH);
		if (batch.length === 0) return;
		try {
			if (!this.templateReady) await this.init();
			const response = await this.client.bulk({
				operations: batch.flatMap(({ entry }) => [
					{ index: { _index: monthlyIndex(this.prefix, entry.occurredAt), _id: entry.id } },
					{ ...entry, payloadText: JSON.stringify(entry.payload) }
				])
			});
			response.items.forEach((item, i) => {
				const error = item.index?.error;
				batch[i].done(error ? new Error(`Elasticsearch refused ${batch[i].entry.id}: ${error.reason}`) : undefined);
			});
		} catch (err) {
			this.templateReady = false;
			const failure = asOutage(err);
			for (const pending of batch) pending.done(failure);
		}
		if (this.queue.length > 0) this.timer ??= setTimeout(() => void this.flush(), 0);
	}

	async search(query: AuditQuery): Promise<Page<AuditEntry>> {
		const filter: object[] = [];
		if (query.type) filter.push({ term: { type: query.type } });
		if (query.aggregateId) filter.push({ term: { aggregateId: query.aggregateId } });
		if (query.correlationId) filter.push({ term: { correlationId: query.correlationId } });
		if (query.from || query.to)
			filter.push({ range: { occurredAt: { ...(query.from ? { gte: query.from.toISOString() } : {}), ...(query.to ? { lte: query.to.toISOString() } : {}) } } });
		const must = query.q ? [{ match: { payloadText: { query: query.q, operator: "and" as const } } }] : [];
		const response = await this.client.search<AuditEntry & { payloadText: string }>({
			index: `${this.prefix}-*`,
			ignore_unavailable: true,
			allow_no_indices: true,
			query: { bool: { filter, must } },
			sort: [{ occurredAt: "desc" }, { id: "desc" }],
			from: offsetOf(query),
			size: query.pageSize,
			track_total_hits: true
		});
		const total = typeof response.hits.total === "number" ? response.hits.total : (response.hits.total?.value ?? 0);
		return pageOf(
			query,
			response.hits.hits.map(hit => {
				const { payloadText: _text, ...entry } = hit._source!;
				return entry;
			}),
			total
		);
	}

	async close(): Promise<void> {
		await this.flush();
		await this.client.close();
	}
}
