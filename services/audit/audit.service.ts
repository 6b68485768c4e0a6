/**
 * audit: the trail of everything that happened. It consumes every domain event (as the
 * `audit` consumer group) and the gateway's record of every write request, stores each
 * once by its id (in its SQL database, or in Elasticsearch when ELASTICSEARCH_URL is
 * set), and answers searches over them, newest first.
 */
import type { Context, Service } from "moleculer";
import { createDbMixin, type DbServiceThis } from "../../mixins/db.mixin";
import { createEventConsumerMixin } from "../../mixins/event-consumer.mixin";
import { answerEach } from "../../lib/grouped-calls";
import { auditMigrations } from "./audit.migrations";
import { lifecycleOf } from "../../lib/lifecycle";
import { defineService } from "../../lib/schema";
import { idempotentCall } from "../../lib/resilience";
import { cursorPageParams, isoDate, optional, text, type Page } from "../../lib/params";
import { AUDIT_LOGS_TOPIC, type EventEnvelope, type RecordAnswer, type RequestRecord } from "../../contracts/events";
import { eventEntry, requestEntry, type AuditEntry, type AuditQuery, type AuditStore } from "./audit.domain";
import { SqlAuditStore } from "./audit.repository";
import { ElasticsearchAuditStore } from "./audit.elasticsearch";
import { AUDIT_ENTRY_PAGE } from "./audit.schemas";
import { appConfig } from "../../config/broker-config";

interface AuditThis extends DbServiceThis {
	store: AuditStore;
	storeRequestRecord(record: RequestRecord): Promise<boolean>;
}
type This = Service & AuditThis;

/** Every domain event goes into the trail, once by its id. */
async function storeEventWhenPublished(svc: This, event: EventEnvelope): Promise<void> {
	await svc.store.save(eventEntry(event));
}

const searchText = optional(text({ trim: true, min: 1, max: 100 }));

const REQUEST_RECORD = {
	id: "uuid",
	occurredAt: "string",
	actor: "string",
	method: "string",
	route: "string",
	path: "string",
	status: "number",
	durationMs: "number",
	correlationId: "string",
	traceId: { type: "string", optional: true }
} as const;

const AuditService = defineService<This>({
	name: "audit",
	mixins: [
		createDbMixin({ migrations: auditMigrations, table: "audit_entries" }),
		createEventConsumerMixin<This>(
			{ "*": storeEventWhenPublished },
			{ handlersIdempotentById: true, recordTopics: { [AUDIT_LOGS_TOPIC]: (svc, record) => svc.storeRequestRecord(record as RequestRecord) } }
		)
	],
	settings: { rest: "/audit" },

	actions: {
		/** Audit entries by `type`, `aggregateId`, `correlationId`, `traceId`, time range and text in the payload; newest first; by page number or by `cursor`. */
		search: {
			rest: "GET /",
			openapi: { summary: "Search the audit trail", answers: AUDIT_ENTRY_PAGE },
			...idempotentCall,
			params: {
				...cursorPageParams,
				type: searchText,
				aggregateId: searchText,
				correlationId: searchText,
				traceId: searchText,
				from: optional(isoDate),
				to: optional(isoDate),
				q: searchText
			},
			handler(this: This, ctx: Context<AuditQuery>): Promise<Page<AuditEntry>> {
				return this.store.search(ctx.params);
			}
		},

		/** Stores the gateway's record of a write request (kept once per record id). */
		recordRequest: {
			visibility: "public",
			params: REQUEST_RECORD,
			async handler(this: This, ctx: Context<RequestRecord>): Promise<{ stored: boolean }> {
				return { stored: await this.storeRequestRecord(ctx.params) };
			}
		},

		/** Stores several request records of a gateway in one call, each answered on its own (stored, or the failure that leaves it to be sent again). */
		recordRequests: {
			visibility: "public",
			params: { records: { type: "array", min: 1, items: { type: "object", props: REQUEST_RECORD } } },
			handler(this: This, ctx: Context<{ records: RequestRecord[] }>): Promise<RecordAnswer[]> {
				return answerEach(ctx.params.records, async record => ({ stored: await this.storeRequestRecord(record) }));
			}
		}
	},

	methods: {
		checkOtherStores(this: This): Promise<string> {
			return this.store?.health?.() ?? Promise.resolve("up");
		},

		/** A gateway request record, from the `recordRequest` action or the audit-logs topic. */
		storeRequestRecord(this: This, record: RequestRecord): Promise<boolean> {
			return this.store.save(requestEntry(record));
		}
	},

	created(this: This) {
		// Opened before the consumers start; closed after they stop, so saves still gathered
		// in the store are written, or fail so their events come again.
		lifecycleOf(this).add("stores", {
			start: async () => {
				const url = appConfig(this.broker).elasticsearchUrl;
				if (!url) {
					this.store = new SqlAuditStore(this.db);
					return;
				}
				const store = ElasticsearchAuditStore.connect(url);
				await store.init();
				this.store = store;
				this.logger.info(`Audit entries are stored in Elasticsearch at ${url}.`);
			},
			stop: () => this.store?.close()
		});
	}
});

export default AuditService;
