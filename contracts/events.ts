/**
 * The one registry of domain events: wire name -> topic -> payload type, the consumer
 * groups that read each topic, and the one builder of every envelope.
 */
import { randomUUID } from "node:crypto";
import { formatTraceparent, traceContextOf } from "./trace-context";
import type { ItemAnswer } from "./errors";

export interface ProductSnapshot {
	id: string;
	sku: string;
	name: string;
	description: string | null;
	category: string | null;
	price: number;
	currency: string;
	active: boolean;
	version: number;
}

export interface ProductCreatedEvent {
	product: ProductSnapshot;
	/** Opening stock for the inventory service; 0 when the request gave none. */
	initialStock: number;
	lowStockThreshold: number;
}
export interface ProductUpdatedEvent {
	product: ProductSnapshot;
	changed: string[];
}
export interface ProductDeletedEvent {
	productId: string;
	sku: string;
}

export interface StockUpdatedEvent {
	productId: string;
	onHand: number;
	reserved: number;
	available: number;
	delta: number;
	reason: string;
	reference: string | null;
}
export interface LowStockEvent {
	productId: string;
	available: number;
	lowStockThreshold: number;
}
export interface OutOfStockEvent {
	productId: string;
	onHand: number;
	reserved: number;
}

export interface PurchaseLine {
	productId: string;
	sku: string;
	name: string;
	quantity: number;
	unitPrice: number;
	lineTotal: number;
}
export interface PurchaseEventPayload {
	purchaseId: string;
	status: string;
	items: PurchaseLine[];
	total: number;
	currency: string;
	customerId: string | null;
}
export type PurchaseCreatedEvent = PurchaseEventPayload & { expiresAt: string };
export type PurchaseConfirmedEvent = PurchaseEventPayload;
export type PurchaseCancelledEvent = PurchaseEventPayload & {
	reason: string | null;
	/** The status the purchase was cancelled from: stock is released (PENDING) or returned (CONFIRMED). */
	previousStatus: "PENDING" | "CONFIRMED";
};
export type PurchaseCompletedEvent = PurchaseEventPayload;

export interface EventPayloads {
	"product.created": ProductCreatedEvent;
	"product.updated": ProductUpdatedEvent;
	"product.deleted": ProductDeletedEvent;
	"inventory.stock-updated": StockUpdatedEvent;
	"inventory.low-stock": LowStockEvent;
	"inventory.out-of-stock": OutOfStockEvent;
	"purchase.created": PurchaseCreatedEvent;
	"purchase.confirmed": PurchaseConfirmedEvent;
	"purchase.cancelled": PurchaseCancelledEvent;
	"purchase.completed": PurchaseCompletedEvent;
}
export type EventType = keyof EventPayloads;

export const TOPICS = {
	"product.created": "product-events",
	"product.updated": "product-events",
	"product.deleted": "product-events",
	"inventory.stock-updated": "inventory-events",
	"inventory.low-stock": "inventory-events",
	"inventory.out-of-stock": "inventory-events",
	"purchase.created": "purchase-events",
	"purchase.confirmed": "purchase-events",
	"purchase.cancelled": "purchase-events",
	"purchase.completed": "purchase-events"
} as const satisfies Record<EventType, string>;
export type Topic = (typeof TOPICS)[EventType];

/**
 * Which consumer group (a service name) reads which topics. In-cluster, the relay
 * delivers each event to every group of its topic that reacts to its type and retries
 * until each has stored it; with Kafka these become the consumer groups.
 */
export const CONSUMER_GROUPS: Record<string, readonly Topic[]> = {
	inventory: ["product-events", "purchase-events"],
	audit: ["product-events", "inventory-events", "purchase-events"]
};

/**
 * The types a group reacts to, for groups that do not take every event of their topics:
 * the relay does not hand them the others (inventory would answer "ignored" to each
 * `purchase.created`, one round trip per purchase for nothing). The consumer mixin refuses
 * to start with handlers that differ from this list.
 */
export const REACTS_ONLY_TO: Partial<Record<string, readonly EventType[]>> = {
	inventory: ["product.created", "product.deleted", "purchase.confirmed", "purchase.cancelled"]
};

/** The consumer groups the relay delivers an event of `type` to, without Kafka. */
export function consumerGroupsOf(type: EventType): string[] {
	return Object.entries(CONSUMER_GROUPS)
		.filter(([group, topics]) => topics.includes(TOPICS[type]) && (REACTS_ONLY_TO[group]?.includes(type) ?? true))
		.map(([group]) => group);
}

export interface EventEnvelope<T extends EventType = EventType> {
	id: string;
	type: T;
	version: 1;
	occurredAt: string;
	source: string;
	aggregateId: string;
	correlationId: string;
	actor?: string;
	/**
	 * The W3C traceparent of the work that wrote the event: its consumers continue that trace.
	 * Absent on events written before tracing, or outside any trace (the sweeper).
	 */
	traceparent?: string;
	payload: EventPayloads[T];
}

/** Who caused a change and in which trace: travels from the request into every event it leads to. */
export interface EventOrigin {
	correlationId: string;
	actor?: string;
	traceparent?: string;
}

export function buildEvent<T extends EventType>(
	type: T,
	source: string,
	aggregateId: string,
	payload: EventPayloads[T],
	origin: EventOrigin
): EventEnvelope<T> {
	return {
		id: randomUUID(),
		type,
		version: 1,
		occurredAt: new Date().toISOString(),
		source,
		aggregateId,
		correlationId: origin.correlationId,
		...(origin.actor ? { actor: origin.actor } : {}),
		...(origin.traceparent ? { traceparent: origin.traceparent } : {}),
		payload
	};
}

interface RequestContextLike {
	requestID?: string | null;
	id: string;
	tracing?: boolean | null;
	span?: { id: string; traceID: string; sampled: boolean } | null;
	meta: object & { user?: { name?: string }; correlationId?: string };
}

/**
 * The origin of the events a request causes: its correlation id (the gateway puts the
 * client's X-Request-ID in `meta.correlationId`; the request id is the trace id), the API
 * key's name, and the traceparent of the span that writes them.
 */
export function originOf(ctx: RequestContextLike): EventOrigin {
	const trace = traceContextOf(ctx);
	return {
		correlationId: ctx.meta.correlationId ?? ctx.requestID ?? ctx.id,
		actor: ctx.meta.user?.name,
		...(trace ? { traceparent: formatTraceparent(trace) } : {})
	};
}

/** Topic of the gateway's record of each write request (not a domain event). */
export const AUDIT_LOGS_TOPIC = "audit-logs";

/** What the gateway records of each write request; never the API key itself. */
export interface RequestRecord {
	id: string;
	occurredAt: string;
	actor: string;
	method: string;
	/** The route as declared, e.g. "POST /api/v1/purchases/:id/confirm". */
	route: string;
	path: string;
	status: number;
	durationMs: number;
	correlationId: string;
	/** The request's trace id (X-Trace-Id); absent in records from before tracing. */
	traceId?: string;
}

/** What audit answers for each record of a `recordRequests` call: stored (false: it had it already), or the failure that leaves it to be sent again. */
export type RecordAnswer = ItemAnswer<{ stored: boolean }>;
