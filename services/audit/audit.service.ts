/**
 * audit: the trail of everything that happened. It consumes every domain event (as the
 * `audit` consumer group) and the gateway's record of every write request, stores each
 * once by its id (in its SQL database, or in Elasticsearch when ELASTICSEARCH_URL is
 * set), and answers searches over them, newest first.
 */
import { DataTypes, type Sequelize } from "sequelize";
import type { Context, Service } from "moleculer";
import { createDbMixin, type DbServiceThis } from "../../mixins/db.mixin";
import { createEventConsumerMixin } from "../../mixins/event-consumer.mixin";
import { auditMigrations } from "../../config/migrations/audit";
import { defineService } from "../../lib/schema";
import { idempotentCall } from "../../lib/resilience";
import { isoDate, pageParams, type Page } from "../../lib/params";
import { AUDIT_LOGS_TOPIC, type EventEnvelope, type RequestRecord } from "../../contracts/events";
import { SqlAuditStore, type AuditEntry, type AuditQuery, type AuditStore } from "./store";
import { AUDIT_ENTRY_PAGE } from "./audit.schemas";
import { ElasticsearchAuditStore } from "./elasticsearch-store";
import { appConfig } from "../../config/broker-config";

function defineEntryModel(sequelize: Sequelize) {
	return sequelize.define(
		"auditEntry",
		{
			id: { type: DataTypes.STRING(64), primaryKey: true },
			kind: DataTypes.STRING(10),
			type: DataTypes.STRING(100),
			occurredAt: DataTypes.DATE
		},
		{ tableName: "audit_entries", timestamps: false, underscored: true }
	);
}

/** The audit entry of a gateway request record. */
export function requestEntry(record: RequestRecord): AuditEntry {
	const { id, occurredAt, actor, correlationId, ...request } = record;
	return {
		id,
		kind: "request",
		type: "http.request",
		source: "api",
		aggregateId: null,
		correlationId,
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
		actor: event.actor ?? null,
		occurredAt: event.occurredAt,
		payload: event.payload as unknown as Record<string, unknown>
	};
}

interface AuditThis extends DbServiceThis {
	store: AuditStore;
	storeRequestRecord(record: RequestRecord): Promise<boolean>;
}
type This = Service & AuditThis;

/** Every domain event goes into the trail, once by its id. */
async function storeEventWhenPublished(svc: This, event: EventEnvelope): Promise<void> {
	await svc.store.save(eventEntry(event));
}

const text = { type: "string", trim: true, min: 1, max: 100, optional: true } as const;

const AuditService = defineService<This>({
	name: "audit",
	mixins: [
		createDbMixin({ migrations: auditMigrations, models: sequelize => ({ entity: defineEntryModel(sequelize) }) }),
		createEventConsumerMixin<This>(
			{ "*": storeEventWhenPublished },
			{ handlersIdempotentById: true, recordTopics: { [AUDIT_LOGS_TOPIC]: (svc, record) => svc.storeRequestRecord(record as RequestRecord) } }
		)
	],
	settings: { rest: "/audit" },

	actions: {
		/** Audit entries by `type`, `aggregateId`, `correlationId`, time range and text in the payload; newest first. */
		search: {
			rest: "GET /",
			openapi: { summary: "Search the audit trail", answers: AUDIT_ENTRY_PAGE },
			...idempotentCall,
			params: {
				...pageParams,
				type: text,
				aggregateId: text,
				correlationId: text,
				from: { ...isoDate, optional: true },
				to: { ...isoDate, optional: true },
				q: text
			},
			handler(this: This, ctx: Context<AuditQuery>): Promise<Page<AuditEntry>> {
				return this.store.search(ctx.params);
			}
		},

		/** Stores the gateway's record of a write request (kept once per record id). */
		recordRequest: {
			visibility: "public",
			params: {
				id: "uuid",
				occurredAt: "string",
				actor: "string",
				method: "string",
				route: "string",
				path: "string",
				status: "number",
				durationMs: "number",
				correlationId: "string"
			},
			async handler(this: This, ctx: Context<RequestRecord>): Promise<{ stored: boolean }> {
				return { stored: await this.storeRequestRecord(ctx.params) };
			}
		}
	},

	methods: {
		async checkOtherStores(this: This): Promise<string> {
			if (!(this.store instanceof ElasticsearchAuditStore)) return "up";
			try {
				return await this.store.health();
			} catch (err) {
				return `down: Elasticsearch: ${(err as Error).message}`;
			}
		},

		/** A gateway request record, from the `recordRequest` action or the audit-logs topic. */
		storeRequestRecord(this: This, record: RequestRecord): Promise<boolean> {
			return this.store.save(requestEntry(record));
		}
	},

	async started(this: This) {
		await this.databaseReady;
		// Closed after the Kafka consumer stops and before the database closes: saves still
		// gathered in the store are written, or fail so their events come again.
		this.beforeDatabaseClose.push(() => this.store?.close() ?? Promise.resolve());
		const url = appConfig(this.broker).elasticsearchUrl;
		if (!url) {
			this.store = new SqlAuditStore(this.db);
			return;
		}
		const store = ElasticsearchAuditStore.connect(url);
		await store.init();
		this.store = store;
		this.logger.info(`Audit entries are stored in Elasticsearch at ${url}.`);
	}
});

export default AuditService;
