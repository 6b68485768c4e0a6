/**
 * Makes a service a consumer group of domain events, fed by the outbox relays through its
 * `consumeEvent` action or, with Kafka, by a Kafka consumer group of the same name; both
 * run the same handlers, each once per event id.
 */
import { Errors, type Context, type Service, type ServiceSchema } from "moleculer";
import type { Transaction } from "sequelize";
import type { KafkaMessage } from "kafkajs";
import type { DbServiceThis } from "./db.mixin";
import { CONSUMER_GROUPS, REACTS_ONLY_TO, type EventEnvelope, type EventType } from "../contracts/events";
import { defineMixin } from "../lib/schema";
import { doublingDelay, idempotentCall, sleep } from "../lib/resilience";
import { failureReason, isOutage } from "../lib/failures";
import { answerEach } from "../lib/grouped-calls";
import type { ItemAnswer } from "../contracts/errors";
import { lifecycleOf, periodically } from "../lib/lifecycle";
import { kafkaEnabled, produce } from "../lib/kafka";
import { KafkaConsumerGroup } from "../lib/kafka-consumer-group";
import { countMetric, registerMetrics, startAtZero } from "../lib/metrics";
import { inEventLogContext } from "../lib/log-context";
import { inSpan } from "../lib/tracing";
import { parseTraceparent } from "../contracts/trace-context";

/** Reacts to one event inside the transaction that also claims its `(consumer, event id)` row. */
export type EventHandler<S, T extends EventType = EventType> = (svc: S, event: EventEnvelope<T>, tx: Transaction) => Promise<void>;

/** A handler under `handlersIdempotentById`: one write keyed by the event id, in no transaction. */
export type IdempotentEventHandler<S, T extends EventType = EventType> = (svc: S, event: EventEnvelope<T>) => Promise<void>;

/** Each event type the service reacts to (or "*" for every type), with the handler that takes its envelope. */
export type EventHandlers<S, H extends EventHandlerKind = "transactional"> = {
	[T in EventType]?: HandlerOf<S, T, H>;
} & { "*"?: HandlerOf<S, EventType, H> };

type EventHandlerKind = "transactional" | "idempotentById";
type HandlerOf<S, T extends EventType, H extends EventHandlerKind> = H extends "idempotentById" ? IdempotentEventHandler<S, T> : EventHandler<S, T>;
/** Either kind of handler, for any event: what the lookup hands back. */
type AnyEventHandler<S> = (svc: S, event: EventEnvelope, tx?: Transaction) => Promise<void>;

export type ConsumeOutcome = "processed" | "duplicate" | "ignored";

/** What `consumeEvents` answers for each event, in order: its outcome, or the failure that leaves it for another attempt. */
export type EventAnswer = ItemAnswer<{ outcome: ConsumeOutcome }>;

export interface ConsumerOptions<S> {
	/**
	 * The handlers (`IdempotentEventHandler`s) are each one write that stores the event
	 * under its own id (an upsert or insert-if-absent): idempotent by themselves, they need
	 * no `(consumer, event id)` row and run in no transaction.
	 */
	handlersIdempotentById?: boolean;
	/** Kafka topics that carry records other than domain events, and the function that takes each record (as parsed from JSON). */
	recordTopics?: Record<string, (svc: S, record: unknown) => Promise<unknown>>;
}

/**
 * The relay hands a consumer group of the contract only the types it says the group reacts
 * to (REACTS_ONLY_TO), every type of its topics otherwise: a handler left out of that list
 * would never be called, one the group lacks would be handed events it only ignores.
 */
export function refuseHandlersUnlikeContract(group: string, handled: string[]): void {
	if (!(group in CONSUMER_GROUPS)) return;
	const expected = [...(REACTS_ONLY_TO[group] ?? ["*"])].sort();
	const actual = [...handled].sort();
	if (actual.join() !== expected.join())
		throw new Error(`The event handlers of ${group} (${actual.join(", ")}) differ from the types contracts/events.ts says it reacts to (${expected.join(", ")})`);
}

/** Attempts of a Kafka message before it is parked on the dead-letter topic. */
const KAFKA_ATTEMPTS = 5;

/**
 * How long a consumer remembers the events it handled. Redeliveries come within seconds
 * (the outbox relay) or minutes (a Kafka rebalance); only a consumer that took an event,
 * lost its acknowledgement and then stayed away longer than this could see it again.
 */
export const PROCESSED_EVENTS_RETENTION_MS = 30 * 24 * 3600_000;
const PRUNE_EVERY_MS = 3600_000;
const PRUNE_BATCH = 5000;

interface ConsumerThis extends DbServiceThis {
	kafkaGroup?: KafkaConsumerGroup;
	consumeOne(event: EventEnvelope): Promise<{ outcome: ConsumeOutcome }>;
	handleEvent(event: EventEnvelope): Promise<{ outcome: ConsumeOutcome }>;
	/** Counts and logs an event handled, once its effect is stored. */
	processed(event: EventEnvelope): { outcome: ConsumeOutcome };
	consumeKafkaMessage(topic: string, message: KafkaMessage, heartbeat: () => Promise<void>): Promise<void>;
	consumeKafkaEvent(topic: string, message: KafkaMessage, event: EventEnvelope): Promise<unknown>;
	pruneProcessedEvents(before: Date): Promise<number>;
}
type This = Service & ConsumerThis;

export function createEventConsumerMixin<S extends Service>(
	handlers: EventHandlers<S>,
	options?: ConsumerOptions<S> & { handlersIdempotentById?: false }
): Partial<ServiceSchema>;
export function createEventConsumerMixin<S extends Service>(
	handlers: EventHandlers<S, "idempotentById">,
	options: ConsumerOptions<S> & { handlersIdempotentById: true }
): Partial<ServiceSchema>;
export function createEventConsumerMixin<S extends Service>(
	handlers: EventHandlers<S> | EventHandlers<S, "idempotentById">,
	options: ConsumerOptions<S> = {}
): Partial<ServiceSchema> {
	// The key of each handler is the type of the envelopes it is given, so one signature serves all of them.
	const handlerOf = (type: EventType) => (handlers[type] ?? handlers["*"]) as AnyEventHandler<S> | undefined;
	return defineMixin<This>({
		actions: {
			consumeEvent: {
				visibility: "public",
				// Idempotent by event id, so a retry after a lost answer is harmless.
				...idempotentCall,
				params: {
					id: "uuid",
					type: "string",
					aggregateId: "string",
					payload: "object",
					$$strict: false
				},
				handler(this: This, ctx: Context<EventEnvelope>): Promise<{ outcome: ConsumeOutcome }> {
					return this.consumeOne(ctx.params);
				}
			},

			/**
			 * Several events in one call, each handled as `consumeEvent` handles it and answered
			 * on its own: a relay pass hands a group the events of many aggregates at once (never
			 * two of one aggregate, which go one after the other), so one failing event holds up
			 * only its own aggregate.
			 */
			consumeEvents: {
				visibility: "public",
				...idempotentCall,
				params: {
					events: {
						type: "array",
						min: 1,
						items: { type: "object", props: { id: "uuid", type: "string", aggregateId: "string", payload: "object" } }
					}
				},
				handler(this: This, ctx: Context<{ events: EventEnvelope[] }>): Promise<EventAnswer[]> {
					// A stopping node refuses the whole call, so it is sent to another node at once.
					if (lifecycleOf(this).closing) throw new Errors.MoleculerRetryableError(`${this.name} is stopping`, 503, "SERVICE_NOT_AVAILABLE");
					return answerEach(ctx.params.events, event => inEventLogContext(event, () => this.handleEvent(event), { ownTrace: true }));
				}
			}
		},

		methods: {
			/** Forgets the events handled before `before`, in batches; safe on several nodes at once. */
			async pruneProcessedEvents(this: This, before: Date): Promise<number> {
				let pruned = 0;
				for (;;) {
					const rows = await this.db.rows(
						`DELETE FROM processed_events WHERE (consumer, event_id) IN
						 (SELECT consumer, event_id FROM processed_events WHERE processed_at < :before LIMIT ${PRUNE_BATCH}) RETURNING event_id`,
						{ before: before.toISOString() }
					);
					pruned += rows.length;
					if (rows.length < PRUNE_BATCH) return pruned;
				}
			},

			consumeOne(this: This, event: EventEnvelope): Promise<{ outcome: ConsumeOutcome }> {
				return inEventLogContext(event, () => this.handleEvent(event));
			},

			async handleEvent(this: This, event: EventEnvelope): Promise<{ outcome: ConsumeOutcome }> {
				const handle = handlerOf(event.type);
				if (!handle) return { outcome: "ignored" };
				// A stopping node: say "not available" so the event is asked for again later, elsewhere.
				if (lifecycleOf(this).closing) throw new Errors.MoleculerRetryableError(`${this.name} is stopping`, 503, "SERVICE_NOT_AVAILABLE");
				const svc = this as Service as S;
				if (options.handlersIdempotentById) {
					await handle(svc, event);
					return this.processed(event);
				}
				const answer = await this.db.transaction(async tx => {
					const claimed = await this.db.rows(
						`INSERT INTO processed_events (consumer, event_id, event_type, processed_at)
						 VALUES (:consumer, :id, :type, :at) ON CONFLICT DO NOTHING RETURNING event_id`,
						{ consumer: this.name, id: event.id, type: event.type, at: new Date().toISOString() },
						tx
					);
					if (claimed.length === 0) return { outcome: "duplicate" as const };
					await handle(svc, event, tx);
					return { outcome: "processed" as const };
				});
				// Counted once committed; a duplicate was counted when it was first handled.
				return answer.outcome === "processed" ? this.processed(event) : answer;
			},

			processed(this: This, event: EventEnvelope): { outcome: ConsumeOutcome } {
				countMetric(this.broker, "events_consumed_total", { consumer: this.name, type: event.type });
				this.logger.debug(`Handled ${event.type} ${event.id} (correlation ${event.correlationId}).`);
				return { outcome: "processed" };
			},

			/**
			 * A domain event from Kafka, handled in a span that continues the producer's (the
			 * message's traceparent header; the envelope's for messages produced without one).
			 */
			consumeKafkaEvent(this: This, topic: string, message: KafkaMessage, event: EventEnvelope): Promise<unknown> {
				const header = message.headers?.traceparent;
				const span = {
					service: this.name,
					type: "kafka.consume",
					parent: parseTraceparent(header === undefined ? event.traceparent : String(header)),
					tags: { eventId: event.id, eventType: event.type, topic, partitionOffset: message.offset }
				};
				return inSpan(this.broker, `consume ${topic}`, span, () => this.consumeOne(event));
			},

			/** One Kafka message: handled (with retries), or parked on the dead-letter topic. */
			consumeKafkaMessage(this: This, topic: string, message: KafkaMessage, heartbeat: () => Promise<void>): Promise<void> {
				const take = async () => {
					const takeRecord = options.recordTopics?.[topic];
					let failure: unknown;
					for (let attempt = 1; attempt <= KAFKA_ATTEMPTS; attempt++) {
						// While a store is away the partition waits (the offset stays), however long.
						if (failure !== undefined && isOutage(failure)) attempt = 1;
						try {
							const value = JSON.parse(String(message.value));
							if (takeRecord) await takeRecord(this as Service as S, value);
							else await this.consumeKafkaEvent(topic, message, value as EventEnvelope);
							return;
						} catch (err) {
							failure = err;
							// Unreadable is unreadable; a leaving node leaves the offset for the next owner
							// (its disconnect waits for this message, so it must not wait for an outage).
							if (err instanceof SyntaxError) break;
							if (this.kafkaGroup?.stopping || lifecycleOf(this).closing) throw err;
							await sleep(doublingDelay(attempt, 200, 5000));
							// Still a member of the group while it waits, so the partition is not handed over.
							await heartbeat().catch(() => undefined);
						}
					}
					const reason = failureReason(failure);
					await produce(this.broker, `${topic}.dlq`, String(message.key ?? ""), String(message.value), {
						...message.headers,
						error: reason,
						"original-topic": topic,
						"original-offset": message.offset,
						consumer: this.name
					});
					countMetric(this.broker, "events_parked_total", { consumer: this.name });
					this.logger.error(`Parked a message of ${topic} at offset ${message.offset} on ${topic}.dlq: ${reason}`);
				};
				// The relay names the event in a header: lines about a message that cannot be read carry its id too.
				const id = message.headers?.id;
				return id === undefined ? take() : inEventLogContext({ id: String(id) }, take);
			}
		},

		created(this: This) {
			refuseHandlersUnlikeContract(this.name, Object.keys(handlers));
			registerMetrics(this.broker, [
				{ name: "events_consumed_total", type: "counter", labelNames: ["consumer", "type"], description: "Domain events a consumer group handled (duplicates not counted)" },
				{ name: "events_parked_total", type: "counter", labelNames: ["consumer"], description: "Kafka messages a consumer group gave up on and parked on the dead-letter topic" },
				{
					name: "kafka_consumer_lag_messages",
					type: "gauge",
					labelNames: ["consumer", "topic", "partition"],
					description: "Messages of a partition the consumer group has not handled yet, as of the last batch it handled"
				}
			]);
			startAtZero(this.broker, "events_parked_total", { consumer: this.name });
			const lifecycle = lifecycleOf(this);
			if (!options.handlersIdempotentById) {
				lifecycle.add(
					"jobs",
					periodically(
						PRUNE_EVERY_MS,
						() => this.pruneProcessedEvents(new Date(Date.now() - PROCESSED_EVENTS_RETENTION_MS)),
						err => this.logger.warn("Pruning processed events failed:", err.message)
					)
				);
			}
			if (!kafkaEnabled(this.broker)) return;
			const group = new KafkaConsumerGroup({
				broker: this.broker,
				logger: this.logger,
				group: this.name,
				topics: [...(CONSUMER_GROUPS[this.name] ?? []), ...Object.keys(options.recordTopics ?? {})],
				handle: (topic, message, heartbeat) => this.consumeKafkaMessage(topic, message, heartbeat)
			});
			this.kafkaGroup = group;
			lifecycle.add("consumers", { start: () => void group.start(), stop: () => group.stop() });
		}
	});
}
