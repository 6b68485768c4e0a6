/**
 * The only door out of a service: `appendEvents(tx, events)` writes events in the
 * transaction of the change that caused them, and the relay publishes them after the
 * commit: a broadcast in the cluster for listeners such as cache cleaners, then, with
 * Kafka, the event's topic (the bridge); without it, every consumer group of its topic
 * that reacts to its type, directly (an acknowledged call, retried until the group has stored it).
 */
import type { Context, Service, ServiceSchema } from "moleculer";
import type { Transaction } from "sequelize";
import { OutboxRelay } from "../lib/outbox-relay";
import { GroupedCalls } from "../lib/grouped-calls";
import { outboxBacklog, parkedEvents, type OutboxBacklog, type ParkedEvent } from "../lib/outbox-status";
import type { DbServiceThis } from "./db.mixin";
import type { ConsumeOutcome } from "./event-consumer.mixin";
import { TOPICS, consumerGroupsOf, type EventEnvelope } from "../contracts/events";
import { defineMixin } from "../lib/schema";
import { kafkaEnabled, produce } from "../lib/kafka";
import { isOutage } from "../lib/failures";
import { inEventLogContext } from "../lib/log-context";
import { lifecycleOf } from "../lib/lifecycle";
import { countMetric, registerMetrics, startAtZero } from "../lib/metrics";
import { inSpan } from "../lib/tracing";
import { formatTraceparent, parentSpanOf, parseTraceparent } from "../contracts/trace-context";

export interface OutboxThis {
	outboxRelay: OutboxRelay;
	/** Per consumer group: the deliveries under way at one time, in one `consumeEvents` call. */
	groupDeliveries: Map<string, GroupedCalls<EventEnvelope, { outcome: ConsumeOutcome }>>;
	appendEvents(tx: Transaction, events: EventEnvelope[]): Promise<void>;
	publishEvent(event: EventEnvelope, destination: string): Promise<void>;
	groupDelivery(group: string): GroupedCalls<EventEnvelope, { outcome: ConsumeOutcome }>;
}

type This = Service & DbServiceThis & OutboxThis;

/** The destination that stands for "every listener in the cluster" (cache cleaners and the like). */
const BROADCAST = "$broadcast";

/** The destination that stands for the event's Kafka topic. */
const KAFKA = "$kafka";

/**
 * Where an event goes: the cluster's listeners first, then its Kafka topic (consumer
 * groups read it there) or, without Kafka, each consumer group of its topic that reacts
 * to its type, directly.
 */
function destinationsOf(event: EventEnvelope, viaKafka: boolean): string[] {
	return [BROADCAST, ...(viaKafka ? [KAFKA] : consumerGroupsOf(event.type))];
}

export function createOutboxMixin(options: { pollMs?: number } = {}): Partial<ServiceSchema> {
	return defineMixin<This>({
		actions: {
			/** How many events wait in this service's outbox, since when, and how many are parked; for operators (the REPL's `outbox`). */
			outboxStatus: {
				visibility: "public",
				handler(this: This): Promise<OutboxBacklog> {
					return outboxBacklog(this.db);
				}
			},

			/** The events the relay gave up on, newest first; for operators (the REPL's `parked`). */
			parkedEvents: {
				visibility: "public",
				params: { limit: { type: "number", integer: true, min: 1, max: 100, default: 20, convert: true } },
				handler(this: This, ctx: Context<{ limit: number }>): Promise<ParkedEvent[]> {
					return parkedEvents(this.db, ctx.params.limit);
				}
			}
		},

		methods: {
			async appendEvents(this: This, tx: Transaction, events: EventEnvelope[]): Promise<void> {
				if (events.length === 0) return;
				const createdAt = new Date().toISOString();
				const pending = (event: EventEnvelope) => JSON.stringify(destinationsOf(event, kafkaEnabled(this.broker)));
				// One statement for all of them: every round trip inside a write transaction holds its row locks longer.
				const replacements: Record<string, unknown> = { createdAt };
				const rows = events.map((event, i) => {
					Object.assign(replacements, {
						[`id${i}`]: event.id,
						[`topic${i}`]: TOPICS[event.type],
						[`type${i}`]: event.type,
						[`aggregateId${i}`]: event.aggregateId,
						[`envelope${i}`]: JSON.stringify(event),
						[`pending${i}`]: pending(event)
					});
					return `(:id${i}, :topic${i}, :type${i}, :aggregateId${i}, :envelope${i}, :pending${i}, :createdAt)`;
				});
				await this.db.sequelize.query(
					`INSERT INTO outbox (id, topic, type, aggregate_id, envelope, pending, created_at) VALUES ${rows.join(", ")}`,
					{ transaction: tx, replacements }
				);
				this.db.afterCommit(tx, () => this.outboxRelay?.kick());
			},

			/**
			 * Hands an event to one destination: the broadcast, its Kafka topic, or a consumer group's
			 * acknowledged call. Kafka and the consumer groups get it in a span of the trace that wrote
			 * it (the envelope's traceparent); the Kafka message carries that span as its traceparent header.
			 */
			async publishEvent(this: This, event: EventEnvelope, destination: string): Promise<void> {
				if (destination === BROADCAST) {
					await this.broker.broadcast(event.type, event);
					return;
				}
				const topic = TOPICS[event.type];
				const viaKafka = destination === KAFKA;
				const span = {
					service: this.name,
					type: viaKafka ? "kafka.produce" : "outbox.deliver",
					parent: parseTraceparent(event.traceparent),
					tags: { eventId: event.id, eventType: event.type, topic, destination: destination.replace(/^\$/, "") }
				};
				await inSpan(this.broker, viaKafka ? `publish ${topic}` : `deliver ${event.type} to ${destination}`, span, async trace => {
					if (viaKafka) {
						// Key = aggregate id: the events of one entity stay in one partition, in order.
						const headers = { type: event.type, id: event.id, ...(trace ? { traceparent: formatTraceparent(trace) } : {}) };
						await produce(this.broker, topic, event.aggregateId, JSON.stringify(event), headers);
						return;
					}
					await this.groupDelivery(destination).call(event, {
						...(trace ? { parentSpan: parentSpanOf(trace) } : {}),
						meta: { correlationId: event.correlationId }
					});
				});
			},

			/**
			 * The deliveries to one consumer group (lib/grouped-calls.ts): those the relay's lanes
			 * start while a call is under way go together in the next. A relay never has two events
			 * of one aggregate under way for one group, so none waits for another.
			 */
			groupDelivery(this: This, group: string): GroupedCalls<EventEnvelope, { outcome: ConsumeOutcome }> {
				let deliveries = this.groupDeliveries.get(group);
				if (!deliveries) {
					deliveries = new GroupedCalls(this.broker, { single: `${group}.consumeEvent`, batch: `${group}.consumeEvents`, param: "events" });
					this.groupDeliveries.set(group, deliveries);
				}
				return deliveries;
			}
		},

		created(this: This) {
			this.groupDeliveries = new Map();
			registerMetrics(this.broker, [
				{ name: "outbox_backlog_events", type: "gauge", labelNames: ["service"], description: "Events waiting in the outbox" },
				{ name: "outbox_published_events_total", type: "counter", labelNames: ["service"], description: "Events the relay has published to every destination" },
				{ name: "outbox_parked_events_total", type: "counter", labelNames: ["service"], description: "Events the relay gave up on and parked in the outbox" },
				{
					name: "events_published_total",
					type: "counter",
					labelNames: ["service", "topic", "destination"],
					description: "Deliveries of events by topic to each destination: broadcast, kafka, or a consumer group"
				}
			]);
			startAtZero(this.broker, "outbox_parked_events_total", { service: this.name });
			lifecycleOf(this).add("publishers", {
				start: () => {
					this.outboxRelay = new OutboxRelay({
						db: this.db,
						pollMs: options.pollMs,
						publish: (event, destination) =>
							inEventLogContext(event, async () => {
								await this.publishEvent(event, destination);
								countMetric(this.broker, "events_published_total", { service: this.name, topic: TOPICS[event.type], destination: destination.replace(/^\$/, "") });
							}),
						// A consumer, Kafka or a store being away says nothing about the event.
						countsTowardsParking: err => !isOutage(err),
						onPublishError: (err, event, attempts, parked) => {
							const log = parked ? this.logger.error : this.logger.warn;
							if (parked) countMetric(this.broker, "outbox_parked_events_total", { service: this.name });
							inEventLogContext(event, () => log.call(this.logger, `Outbox event ${event.type} ${event.id} (aggregate ${event.aggregateId}) not published, attempt ${attempts}${parked ? ", parked" : ""}: ${(err as Error)?.message}`));
						},
						onPassError: err => this.logger.error("Outbox relay pass failed:", (err as Error)?.message ?? err),
						onPassDone: (published, backlog) => {
							if (!this.broker.isMetricsEnabled()) return;
							if (backlog !== undefined) this.broker.metrics.set("outbox_backlog_events", backlog, { service: this.name });
							if (published > 0) this.broker.metrics.increment("outbox_published_events_total", { service: this.name }, published);
						}
					});
					this.outboxRelay.start();
				},
				stop: () => this.outboxRelay?.stop()
			});
		}
	});
}
