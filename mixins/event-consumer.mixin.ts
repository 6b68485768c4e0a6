/**
 * Makes a service a consumer group of domain events. The relay (or, later, a Kafka
 * consumer) hands it each event through the `consumeEvent` action; the handler runs in
 * one transaction with a `(consumer, event id)` row, so a redelivered event changes
 * nothing. A handler that throws rolls back and the event is delivered again later.
 */
import { Errors, type Context, type Service, type ServiceSchema } from "moleculer";
import type { Transaction } from "sequelize";
import type { DbServiceThis } from "./db.mixin";
import type { EventEnvelope, EventType } from "../services/shared/events";
import { defineMixin } from "../services/shared/schema";
import { idempotentCall } from "../services/shared/resilience";

export type EventHandler<T extends EventType = EventType> = (event: EventEnvelope<T>, tx: Transaction) => Promise<void>;

/** Maps each event type the service reacts to (or "*" for every type) onto the method that handles it. */
export type EventHandlers = Partial<Record<EventType | "*", string>>;

export type ConsumeOutcome = "processed" | "duplicate" | "ignored";

export interface ConsumerOptions {
	/**
	 * The handlers store each event under its own id (an upsert or insert-if-absent), so
	 * they are idempotent by themselves and need no `(consumer, event id)` row.
	 */
	handlersIdempotentById?: boolean;
}

export function createEventConsumerMixin(handlers: EventHandlers, options: ConsumerOptions = {}): Partial<ServiceSchema> {
	return defineMixin<Service & DbServiceThis>({
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
				async handler(this: Service & DbServiceThis, ctx: Context<EventEnvelope>): Promise<{ outcome: ConsumeOutcome }> {
					const event = ctx.params;
					const method = handlers[event.type] ?? handlers["*"];
					if (!method) return { outcome: "ignored" };
					const handle = (this as unknown as Record<string, EventHandler>)[method];
					// A stopping node: say "not available" so the relay asks again later, elsewhere.
					if (this.databaseClosed)
						throw new Errors.MoleculerRetryableError(`${this.name} is stopping`, 503, "SERVICE_NOT_AVAILABLE");
					return this.db.transaction(async tx => {
						if (options.handlersIdempotentById) {
							await handle.call(this, event, tx);
							return { outcome: "processed" as const };
						}
						const claimed = await this.db.rows(
							`INSERT INTO processed_events (consumer, event_id, event_type, processed_at)
							 VALUES (:consumer, :id, :type, :at) ON CONFLICT DO NOTHING RETURNING event_id`,
							{ consumer: this.name, id: event.id, type: event.type, at: new Date().toISOString() },
							tx
						);
						if (claimed.length === 0) return { outcome: "duplicate" as const };
						await handle.call(this, event, tx);
						this.logger.debug(`Handled ${event.type} ${event.id} (correlation ${event.correlationId}).`);
						return { outcome: "processed" as const };
					});
				}
			}
		}
	});
}
