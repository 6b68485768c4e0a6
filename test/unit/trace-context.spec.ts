import { formatTraceparent, isTraceId, newTraceId, parentSpanOf, parseTraceparent, spanIdOf, traceContextOf, traceIdOf } from "../../contracts/trace-context";
import { buildEvent, originOf } from "../../contracts/events";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

describe("traceparent", () => {
	it("reads the W3C example", () => {
		expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
		expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: false });
	});

	it("reads the sampled bit alone among the flags, and a later version's extra fields", () => {
		expect(parseTraceparent(`00-${TRACE}-${SPAN}-03`)?.sampled).toBe(true);
		expect(parseTraceparent(`00-${TRACE}-${SPAN}-02`)?.sampled).toBe(false);
		expect(parseTraceparent(`01-${TRACE}-${SPAN}-01-future`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
	});

	it.each([
		["no string", undefined],
		["version ff", `ff-${TRACE}-${SPAN}-01`],
		["extra fields on version 00", `00-${TRACE}-${SPAN}-01-x`],
		["an all-zero trace id", `00-${"0".repeat(32)}-${SPAN}-01`],
		["an all-zero span id", `00-${TRACE}-${"0".repeat(16)}-01`],
		["upper case", `00-${TRACE.toUpperCase()}-${SPAN}-01`],
		["a short trace id", `00-${TRACE.slice(1)}-${SPAN}-01`],
		["a UUID", "0af7651916cd43dd8448eb211c80319c-b7ad6b71-1"]
	])("refuses %s", (_what, header) => {
		expect(parseTraceparent(header)).toBeUndefined();
	});

	it("writes what it reads", () => {
		for (const sampled of [true, false]) {
			const header = formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled });
			expect(header).toBe(`00-${TRACE}-${SPAN}-${sampled ? "01" : "00"}`);
			expect(parseTraceparent(header)).toEqual({ traceId: TRACE, spanId: SPAN, sampled });
		}
	});
});

describe("trace ids", () => {
	it("makes 32 lowercase hex digits", () => {
		const ids = new Set(Array.from({ length: 50 }, newTraceId));
		expect(ids.size).toBe(50);
		for (const id of ids) expect(isTraceId(id)).toBe(true);
	});

	it("writes Moleculer's UUID ids as Zipkin does: a span id is the first 16 hex digits", () => {
		expect(spanIdOf("0af76519-16cd-43dd-8448-eb211c80319c")).toBe("0af7651916cd43dd");
		expect(spanIdOf(SPAN)).toBe(SPAN);
		expect(traceIdOf("0af76519-16cd-43dd-8448-eb211c80319c")).toBe("0af7651916cd43dd8448eb211c80319c");
	});

	it("gives Moleculer the parent span of a traceparent", () => {
		expect(parentSpanOf({ traceId: TRACE, spanId: SPAN, sampled: false })).toEqual({ id: SPAN, traceID: TRACE, sampled: false });
	});
});

describe("the trace context of a Moleculer context", () => {
	const span = { id: "0af76519-16cd-43dd-8448-eb211c80319c", traceID: TRACE, sampled: true };

	it("is its active span's", () => {
		expect(traceContextOf({ id: "x", requestID: TRACE, span })).toEqual({ traceId: TRACE, spanId: "0af7651916cd43dd", sampled: true });
	});

	it("without a span, is its request id's when that is a trace id, with its own id as the span's", () => {
		expect(traceContextOf({ id: "0af76519-16cd-43dd-8448-eb211c80319c", requestID: TRACE })).toEqual({ traceId: TRACE, spanId: "0af7651916cd43dd", sampled: false });
		expect(traceContextOf({ id: "0af76519-16cd-43dd-8448-eb211c80319c", requestID: TRACE, tracing: true })).toMatchObject({ sampled: true });
		expect(traceContextOf({ id: "x", requestID: "sweep-1" })).toBeUndefined();
		expect(traceContextOf({ id: "x", requestID: null })).toBeUndefined();
	});

	it("goes into the origin and so into every envelope the work writes; the correlation id stays the client's", () => {
		const origin = originOf({ id: "x", requestID: TRACE, span, meta: { correlationId: "order-7", user: { name: "shop" } } });
		expect(origin).toEqual({ correlationId: "order-7", actor: "shop", traceparent: `00-${TRACE}-0af7651916cd43dd-01` });
		const event = buildEvent("product.deleted", "products", "p1", { productId: "p1", sku: "S" }, origin);
		expect(event).toMatchObject({ correlationId: "order-7", traceparent: origin.traceparent });
	});

	it("leaves the envelope without a traceparent outside any trace", () => {
		const event = buildEvent("product.deleted", "products", "p1", { productId: "p1", sku: "S" }, { correlationId: "sweep-1" });
		expect(event).not.toHaveProperty("traceparent");
	});
});
