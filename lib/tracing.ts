/**
 * Moleculer's tracing, as TRACING_EXPORTER configures it, and the spans the platform starts
 * itself where no action call carries the trace: the outbox relay's publishing and the Kafka
 * consumer's taking of a message (their parent comes from a traceparent, contracts/trace-context.ts).
 */
import { TracerExporters, type BrokerOptions, type ServiceBroker, type Span, type TracerOptions } from "moleculer";
import type { TracingConfig } from "../config/env";
import { newTraceId, spanIdOf, traceIdOf, type TraceContext } from "../contracts/trace-context";

const ZIPKIN_TRACE_ID = /^[0-9a-f]{16}([0-9a-f]{16})?$/;

/** Zipkin's span kinds, by the type of the span (Moleculer reports every span as SERVER). */
const KINDS: Record<string, string> = { "kafka.produce": "PRODUCER", "kafka.consume": "CONSUMER" };

/**
 * Moleculer's Zipkin exporter, with the trace id whole: Moleculer cuts every id to 16 hex
 * digits, so a W3C trace id of 32 (the one in X-Trace-Id, logs and audit entries) would
 * not be the one Zipkin shows. Spans still waiting are sent when the broker stops.
 */
export class ZipkinExporter extends TracerExporters.Zipkin {
	override makePayload(span: Span): Record<string, unknown> {
		const payload = super.makePayload(span);
		payload.traceId = traceIdOf(span.traceID);
		payload.kind = KINDS[span.type] ?? "SERVER";
		return payload;
	}

	override flush(): Promise<void> {
		if (this.queue.length === 0) return Promise.resolve();
		// Zipkin refuses a whole batch for one span whose trace id is not hex (a context started
		// with a request id of some other kind): those are left out.
		const spans = this.generateTracingData().filter(span => ZIPKIN_TRACE_ID.test(String(span.traceId)));
		this.queue.length = 0;
		if (spans.length === 0) return Promise.resolve();
		return fetch(`${this.opts.baseURL}/api/v2/spans`, { method: "POST", body: JSON.stringify(spans), headers: this.opts.headers })
			.then(res => {
				if (!res.ok) this.logger.warn(`Zipkin refused ${spans.length} spans: ${res.status} ${res.statusText}`);
			})
			.catch((err: Error) => this.logger.warn(`Could not send ${spans.length} spans to Zipkin: ${err.message}`));
	}

	override stop(): Promise<void> {
		super.stop();
		return this.flush();
	}
}

/** Moleculer's tracing options. Spans carry no params, meta or responses: no payload leaves for the trace store. */
export function tracingOptions(config: TracingConfig): BrokerOptions["tracing"] {
	if (config.exporter === "none") return { enabled: false };
	return {
		enabled: true,
		exporter:
			config.exporter === "zipkin"
				? (new ZipkinExporter({ baseURL: config.zipkinUrl, interval: 1 }) as unknown as TracerOptions["exporter"])
				: "Console",
		sampling: { rate: config.sampleRate },
		events: false,
		stackTrace: false,
		tags: { action: { params: false, meta: false, response: false }, event: { params: false, meta: false } }
	};
}

/**
 * A span of the platform's own in the trace `parent` continues (a new trace when there is
 * none), finished when `work` settles; `work` gets the context its own calls and messages
 * carry on. Without tracing no span is made and the parent is handed on as it came.
 */
export async function inSpan<T>(
	broker: ServiceBroker,
	name: string,
	options: { service: string; type: string; parent?: TraceContext; tags?: Record<string, unknown> },
	work: (trace: TraceContext | undefined) => Promise<T>
): Promise<T> {
	if (!broker.isTracingEnabled()) return work(options.parent);
	const { parent } = options;
	const span = broker.tracer.startSpan(name, {
		type: options.type,
		service: options.service,
		...(parent ? { traceID: parent.traceId, parentID: parent.spanId, sampled: parent.sampled } : { traceID: newTraceId() }),
		tags: options.tags ?? {}
	});
	try {
		return await work({ traceId: traceIdOf(span.traceID), spanId: spanIdOf(span.id), sampled: span.sampled });
	} catch (err) {
		span.setError(err as Error);
		throw err;
	} finally {
		span.finish();
	}
}
