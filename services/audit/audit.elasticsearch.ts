/**
 * The audit trail in Elasticsearch (ELASTICSEARCH_URL set), behind the SQL store's interface:
 * monthly indices `audit-YYYY.MM` from one template, document id = event id, searches over `audit-*`.
 * Only what the test distribution offers is used: no scripts, ingest pipelines or delete-by-query.
 *
 * Writes go through a per-month write alias with `require_alias`, never to the index name:
 * Elasticsearch would otherwise create a missing index with guessed mappings (a text `id`
 * cannot be sorted on), e.g. when a retried bulk request reaches a new, empty cluster.
 */
import { Client } from "@elastic/elasticsearch";
import { Errors } from "moleculer";
import { isUnavailableAnswer } from "../../lib/failures";
import { pageOf, type Page } from "../../lib/params";
import { EXACT_COUNT_LIMIT } from "../../lib/counts";
import { pageWithNext, windowOf, type KeyOrder } from "../../lib/keyset";
import type { AuditEntry, AuditQuery, AuditStore } from "./audit.domain";
import { SaveBatcher } from "./audit.batcher";

const TEMPLATE = "audit";

/** The sort values Elasticsearch gives each hit, newest first: a cursor carries those of a page's last hit. */
const SEARCH_AFTER_ORDER: KeyOrder = [
	{ attribute: "at", column: "occurredAt", direction: "DESC", kind: "integer" },
	{ attribute: "id", column: "id", direction: "DESC", kind: "text" }
];

/**
 * Elasticsearch away, starting up or overloaded (no connection, 5xx, 429) is an outage:
 * said as a retryable 503, so consumers wait for it instead of parking the event.
 */
function asOutage(err: unknown): unknown {
	return isUnavailableAnswer(err)
		? new Errors.MoleculerRetryableError(`Elasticsearch is unavailable: ${(err as { message?: string })?.message}`, 503, "SERVICE_UNAVAILABLE")
		: err;
}

export function monthlyIndex(prefix: string, occurredAt: string): string {
	const at = new Date(occurredAt);
	return `${prefix}-${at.getUTCFullYear()}.${String(at.getUTCMonth() + 1).padStart(2, "0")}`;
}

/** The alias every write of a month goes through; outside `audit-*`, so searches see each document once. */
function writeAlias(index: string): string {
	return `write.${index}`;
}

export class ElasticsearchAuditStore implements AuditStore {
	/** Saves arriving within 20 ms (up to 500) go in one `_bulk` request. */
	private readonly batcher = new SaveBatcher<AuditEntry, boolean>(entries => this.write(entries), 20, 500);

	constructor(
		readonly client: Client,
		private readonly prefix = "audit"
	) {}

	static connect(url: string, prefix?: string): ElasticsearchAuditStore {
		return new ElasticsearchAuditStore(new Client({ node: url, requestTimeout: 10_000 }), prefix);
	}

	/** Installs the index template (idempotent); every monthly index takes its mappings from it. */
	async init(): Promise<void> {
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
						traceId: { type: "keyword" },
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
	}

	/** Creates a month's index from the template, with its write alias (both idempotent). */
	private async createIndex(index: string): Promise<void> {
		await this.init();
		try {
			await this.client.indices.create({ index, aliases: { [writeAlias(index)]: { is_write_index: true } } });
		} catch (err) {
			if ((err as { body?: { error?: { type?: string } } }).body?.error?.type !== "resource_already_exists_exception") throw err;
			await this.client.indices.putAlias({ index, name: writeAlias(index), is_write_index: true });
		}
	}

	/** Up when the cluster answers with a usable status. */
	async health(): Promise<string> {
		try {
			const health = await this.client.cluster.health({ timeout: "2s" });
			return health.status === "red" ? "down: cluster status red" : "up";
		} catch (err) {
			return `down: Elasticsearch: ${(err as Error).message}`;
		}
	}

	/** Resolves once the bulk request carrying the entry has been acknowledged. */
	save(entry: AuditEntry): Promise<boolean> {
		return this.batcher.add(entry);
	}

	/** One `_bulk` request; entries whose month has no index yet go again once it is made. */
	private async write(entries: AuditEntry[]): Promise<(boolean | Error)[]> {
		const results: (boolean | Error)[] = [];
		try {
			let pending = entries.map((entry, at) => ({ entry, at }));
			for (let round = 1; pending.length > 0; round++) {
				const response = await this.client.bulk({
					require_alias: true,
					operations: pending.flatMap(({ entry }) => [
						{ index: { _index: writeAlias(monthlyIndex(this.prefix, entry.occurredAt)), _id: entry.id } },
						{ ...entry, payloadText: JSON.stringify(entry.payload) }
					])
				});
				const unindexed: typeof pending = [];
				response.items.forEach((item, i) => {
					const { entry, at } = pending[i];
					const error = item.index?.error;
					if (error?.type === "index_not_found_exception" && round === 1) unindexed.push(pending[i]);
					else results[at] = error ? new Error(`Elasticsearch refused ${entry.id}: ${error.reason}`) : item.index?.result === "created";
				});
				const months = new Set(unindexed.map(({ entry }) => monthlyIndex(this.prefix, entry.occurredAt)));
				for (const index of months) await this.createIndex(index);
				pending = unindexed;
			}
			return results;
		} catch (err) {
			throw asOutage(err);
		}
	}

	async search(query: AuditQuery): Promise<Page<AuditEntry>> {
		const filter: object[] = [];
		if (query.type) filter.push({ term: { type: query.type } });
		if (query.aggregateId) filter.push({ term: { aggregateId: query.aggregateId } });
		if (query.correlationId) filter.push({ term: { correlationId: query.correlationId } });
		if (query.traceId) filter.push({ term: { traceId: query.traceId } });
		if (query.from || query.to)
			filter.push({ range: { occurredAt: { ...(query.from ? { gte: query.from.toISOString() } : {}), ...(query.to ? { lte: query.to.toISOString() } : {}) } } });
		const must = query.q ? [{ match: { payloadText: { query: query.q, operator: "and" as const } } }] : [];
		// A cursor is search_after on the sort values of the last hit (the time as epoch milliseconds, then the id).
		const { after, offset } = windowOf(query, SEARCH_AFTER_ORDER);
		const response = await this.client
			.search<AuditEntry & { payloadText: string }>({
				index: `${this.prefix}-*`,
				ignore_unavailable: true,
				allow_no_indices: true,
				query: { bool: { filter, must } },
				sort: [{ occurredAt: "desc" }, { id: "desc" }],
				...(after ? { search_after: after } : { from: offset }),
				size: query.pageSize + 1,
				// Counted exactly up to the same limit as the SQL stores; past it Elasticsearch says "gte".
				track_total_hits: after ? false : EXACT_COUNT_LIMIT
			})
			.catch(err => Promise.reject(asOutage(err)));
		const hits = response.hits.hits.map(hit => {
			const { payloadText: _text, ...entry } = hit._source!;
			const [at, id] = hit.sort as [number, string];
			return { entry: { ...entry, traceId: entry.traceId ?? null }, key: { at, id } };
		});
		const { items, nextCursor } = pageWithNext(SEARCH_AFTER_ORDER, hits.map(hit => hit.key), query.pageSize);
		const entries = hits.slice(0, items.length).map(hit => hit.entry);
		if (after) return pageOf(query, entries, undefined, nextCursor);
		const total = response.hits.total;
		const counted = typeof total === "number" ? { total, totalEstimated: false } : { total: total?.value ?? 0, totalEstimated: total?.relation === "gte" };
		return pageOf(query, entries, counted, nextCursor);
	}

	async close(): Promise<void> {
		await this.batcher.close();
		await this.client.close();
	}
}
