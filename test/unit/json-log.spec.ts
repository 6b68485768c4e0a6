import { Errors } from "moleculer";
import { jsonLogLine, printedObject, withheld } from "../../lib/json-log";
import { currentLogContext, inCallLogContext, inEventLogContext, outsideLogContext } from "../../lib/log-context";

const bindings = { nodeID: "products-1", mod: "products", svc: "products" };
const at = new Date("2026-12-01T10:00:00.000Z");
const parsed = (line: string) => JSON.parse(line) as Record<string, unknown>;

describe("jsonLogLine", () => {
	it("writes one JSON object with the time, level, message, node, service and the call's ids", () => {
		const line = jsonLogLine("info", ["Sold", 3, "units"], bindings, { traceId: "t-1", correlationId: "c-1", action: "products.create" }, at);
		expect(parsed(line)).toEqual({
			time: "2026-12-01T10:00:00.000Z",
			level: "info",
			msg: "Sold 3 units",
			node: "products-1",
			service: "products",
			traceId: "t-1",
			correlationId: "c-1",
			action: "products.create"
		});
	});

	it("names the module when the writer is no service (the broker, the cacher)", () => {
		expect(parsed(jsonLogLine("warn", ["x"], { nodeID: "n", mod: "broker" }, {}, at))).toMatchObject({ service: "broker" });
	});

	it("keeps an error's name, code, type, message and stack, never its data", () => {
		const err = new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [{ field: "customerId", actual: "cust-secret-9" }]);
		const line = jsonLogLine("error", ["POST /api/v1/purchases failed:", err], bindings, {}, at);
		expect(parsed(line)).toMatchObject({
			msg: "POST /api/v1/purchases failed: Parameters validation error!",
			error: { name: "ValidationError", code: 422, type: "VALIDATION_ERROR", message: "Parameters validation error!" }
		});
		expect((parsed(line).error as { stack: string }).stack).toContain("ValidationError");
		expect(line).not.toContain("cust-secret-9");
	});

	it("prints objects logged along without their params, payloads, meta or keys", () => {
		const line = jsonLogLine(
			"debug",
			["Call", { action: "purchases.create", params: { customerId: "cust-secret-9" }, meta: { idempotencyKey: "idem-1" }, nested: { apiKey: "k-1", payload: { total: 9 }, expired: 2 } }],
			bindings,
			{},
			at
		);
		expect(parsed(line).msg).toContain("purchases.create");
		expect(parsed(line).msg).toContain("expired: 2");
		for (const secret of ["cust-secret-9", "idem-1", "k-1", "total"]) expect(line).not.toContain(secret);
	});

	it("prints an object for the pretty format the same way: no error data, no params", () => {
		const err = new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [{ field: "customerId", actual: "cust-secret-9" }]);
		const text = printedObject(err);
		expect(text).toContain("Parameters validation error!");
		expect(text).toContain("VALIDATION_ERROR");
		expect(printedObject({ params: { customerId: "cust-secret-9" } })).toBe("{ params: '[withheld]' }");
		expect(text).not.toContain("cust-secret-9");
	});

	it("reduces errors nested in objects and stops at a depth", () => {
		expect(withheld({ cause: Object.assign(new Error("boom"), { data: { body: "b" } }) })).toEqual({ cause: expect.objectContaining({ name: "Error", message: "boom" }) });
		expect(withheld({ a: { b: { c: { d: 1 } } } })).toEqual({ a: { b: { c: "[...]" } } });
	});
});

describe("the log context", () => {
	const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
	const ctx = {
		id: "ctx-1",
		requestID: traceId,
		meta: { correlationId: "client-request-1" },
		action: { name: "purchases.create" },
		span: null as { id: string; traceID: string; sampled: boolean } | null
	};

	it("is empty outside any call", () => {
		expect(currentLogContext()).toEqual({});
	});

	it("gives a call's correlation id and trace id, its span's once tracing opened one", async () => {
		await inCallLogContext(ctx, async () => {
			expect(currentLogContext()).toEqual({ traceId, correlationId: "client-request-1", action: "purchases.create" });
			ctx.span = { id: "00f067aa0ba902b7", traceID: "0af7651916cd43dd8448eb211c80319c", sampled: true };
			await new Promise(resolve => setImmediate(resolve));
			expect(currentLogContext()).toMatchObject({ traceId: "0af7651916cd43dd8448eb211c80319c" });
		});
	});

	it("writes a context's request id as Zipkin does: a UUID loses its dashes", () => {
		inCallLogContext({ id: "c", requestID: "6E1B2665-7fc2-4c8d-929a-76b1e64c8a2c", meta: {} }, () =>
			expect(currentLogContext()).toMatchObject({ traceId: "6e1b26657fc24c8d929a76b1e64c8a2c" })
		);
	});

	it("takes the trace an event carries when no call handles it (a Kafka consumer), never over a call's", () => {
		const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
		inEventLogContext({ id: "ev-k", correlationId: "origin-k", traceparent }, () =>
			expect(currentLogContext()).toEqual({ traceId: "0af7651916cd43dd8448eb211c80319c", correlationId: "origin-k", eventId: "ev-k" })
		);
		inCallLogContext({ id: "c", requestID: traceId, meta: {} }, () =>
			inEventLogContext({ id: "ev-c", traceparent }, () => expect(currentLogContext()).toMatchObject({ traceId, eventId: "ev-c" }))
		);
	});

	it("adds an event's id and correlation id on top of the call that carries it, and leaves it for work the call only sets off", async () => {
		await inCallLogContext({ id: "relay-call", meta: {} }, () =>
			inEventLogContext({ id: "ev-1", correlationId: "origin-1" }, async () => {
				expect(currentLogContext()).toEqual({ traceId: undefined, correlationId: "origin-1", eventId: "ev-1", action: undefined });
				expect(outsideLogContext(() => currentLogContext())).toEqual({});
			})
		);
		// An event known only by its id keeps the call's correlation id.
		inCallLogContext({ id: "c", requestID: "r", meta: {} }, () => inEventLogContext({ id: "ev-2" }, () => expect(currentLogContext()).toMatchObject({ correlationId: "r", eventId: "ev-2" })));
	});
});
