import { ServiceBroker, type Span } from "moleculer";
import { ZipkinExporter, tracingOptions } from "../../lib/tracing";

describe("tracing options", () => {
	it("are off without an exporter", () => {
		expect(tracingOptions({ exporter: "none" })).toEqual({ enabled: false });
	});

	it("sample at the configured rate and capture no params, meta or answers", () => {
		const options = tracingOptions({ exporter: "zipkin", zipkinUrl: "http://127.0.0.1:9411", sampleRate: 0.25 }) as Record<string, unknown>;
		expect(options).toMatchObject({ enabled: true, sampling: { rate: 0.25 }, tags: { action: { params: false, meta: false, response: false } } });
		expect(options.exporter).toBeInstanceOf(ZipkinExporter);
	});
});

describe("the Zipkin exporter", () => {
	const exporter = new ZipkinExporter({ baseURL: "http://127.0.0.1:9", interval: 0 });
	const broker = new ServiceBroker({ logger: false, tracing: { enabled: true, exporter: exporter as never } });
	afterAll(() => broker.stop());

	const spanOf = (type: string): Span =>
		broker.tracer.startSpan("publish purchase-events", { type, traceID: "4bf92f3577b34da6a3ce929d0e0e4736", parentID: "0af7651916cd43dd", service: "purchases" });

	it("keeps a 32-digit trace id whole and writes span ids as 16 hex digits", () => {
		const span = spanOf("kafka.produce");
		const payload = exporter.makePayload(span);
		expect(payload).toMatchObject({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", parentId: "0af7651916cd43dd", localEndpoint: { serviceName: "purchases" } });
		expect(payload.id).toMatch(/^[0-9a-f]{16}$/);
	});

	it("says which spans produce to and consume from Kafka", () => {
		expect(exporter.makePayload(spanOf("kafka.produce")).kind).toBe("PRODUCER");
		expect(exporter.makePayload(spanOf("kafka.consume")).kind).toBe("CONSUMER");
		expect(exporter.makePayload(spanOf("action")).kind).toBe("SERVER");
	});
});
