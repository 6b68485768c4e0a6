/**
 * The audit record of every write request made with a valid key: who (the key's name, never
 * the key), which route, the status (499 when the client left first), how long it took. It
 * goes on the audit-logs topic with Kafka, else (or while Kafka is away) by a call, with the
 * other records under way at the time, tried again for a while when audit is away. Audit
 * keeps a record once by its id, so one that arrived twice is stored once. Requests
 * without a valid key and those the rate limit refused are not recorded: neither may grow
 * the trail.
 */
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { ServiceBroker } from "moleculer";
import { AUDIT_LOGS_TOPIC, type RequestRecord } from "../../contracts/events";
import { parentSpanOf, traceContextOf, type TraceContext } from "../../contracts/trace-context";
import { isOutage } from "../../lib/failures";
import { GroupedCalls } from "../../lib/grouped-calls";
import { doublingDelay, sleep } from "../../lib/resilience";
import { kafkaEnabled, produce } from "../../lib/kafka";
import { actorOf } from "./auth";
import { requestIdOf, requestIdsOf, type ApiThis, type Req } from "./gateway";

const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
/** Calls to audit for one request record: about a minute of trying (0.5, 1, 2, 4, then 5 s apart), long enough for an audit node to start again. */
const RECORD_ATTEMPTS = 15;
/** The status recorded for a request whose client left before the answer (nginx's 499). */
const CLIENT_CLOSED_REQUEST = 499;

/**
 * Records a write request once its response is sent, whatever answered it (an action, the
 * body parser, authentication, or no route at all).
 */
export function recordWhenAnswered(service: ApiThis, req: Req, res: ServerResponse): void {
	if (!WRITE_METHODS.has(req.method ?? "")) return;
	const started = process.hrtime.bigint();
	// Also when the client went away before the answer ("close" without "finish").
	res.once("close", () => recordRequest(service, req, res, started));
}

function recordRequest(service: ApiThis, req: Req, res: ServerResponse, started: bigint): void {
	const actor = actorOf(service.broker, req);
	if (actor === undefined || res.statusCode === 429) return;
	const alias = req.$alias;
	const record: RequestRecord = {
		id: randomUUID(),
		occurredAt: new Date().toISOString(),
		actor,
		method: req.method ?? "",
		route: alias?.fullPath ? `${alias.method} ${alias.fullPath}` : "(not routed)",
		path: (req.originalUrl ?? req.url ?? "").split("?")[0].slice(0, 500),
		status: res.writableFinished ? res.statusCode : CLIENT_CLOSED_REQUEST,
		durationMs: Number(process.hrtime.bigint() - started) / 1e6,
		correlationId: requestIdOf(req),
		traceId: requestIdsOf(req).traceId
	};
	// The call to audit is a child of the gateway's span (its id is the request context's).
	deliver(service, record, req.$ctx ? traceContextOf(req.$ctx) : undefined);
}

/**
 * The records of a gateway under way to audit at one time, in one `recordRequests` call
 * (lib/grouped-calls.ts): one round trip for the records of many requests.
 */
const groupedRecords = new WeakMap<ServiceBroker, GroupedCalls<RequestRecord, { stored: boolean }>>();

function recordsOf(broker: ServiceBroker): GroupedCalls<RequestRecord, { stored: boolean }> {
	let records = groupedRecords.get(broker);
	if (!records) {
		records = new GroupedCalls(broker, { single: "audit.recordRequest", batch: "audit.recordRequests", param: "records" });
		groupedRecords.set(broker, records);
	}
	return records;
}

/** One attempt to store a record; when it goes in a call of its own, that call is a child of the request's span. */
export function storeRecord(broker: ServiceBroker, record: RequestRecord, trace: TraceContext | undefined): Promise<void> {
	const trail = trace ? { parentSpan: parentSpanOf(trace) } : { requestID: record.traceId };
	return recordsOf(broker).call(record, { ...trail, meta: { correlationId: record.correlationId } });
}

function deliver(service: ApiThis, record: RequestRecord, trace: TraceContext | undefined): void {
	const { broker, logger } = service;
	const call = (attempt: number): Promise<unknown> =>
		storeRecord(broker, record, trace).catch(async err => {
			if (attempt >= RECORD_ATTEMPTS || !isOutage(err) || (broker as unknown as { stopping: boolean }).stopping) throw err;
			await sleep(doublingDelay(attempt, 250, 5000));
			return call(attempt + 1);
		});
	const sent = kafkaEnabled(broker)
		? produce(broker, AUDIT_LOGS_TOPIC, record.correlationId, JSON.stringify(record)).catch(err => {
				logger.warn(`Request record ${record.id} not on Kafka (${(err as Error).message}): sent to audit by a call.`);
				return call(1);
			})
		: call(1);
	sent.catch(err => logger.warn(`Request record ${record.id} (${record.route} ${record.status}) not stored: ${(err as Error).message}`));
}
