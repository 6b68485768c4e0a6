import { Errors } from "moleculer";
import { classify, isDatabaseUnreachable, isOutage, isUnavailableAnswer, wasNotRun } from "../../lib/failures";

const named = (name: string, extra: Record<string, unknown> = {}): Error => Object.assign(new Error("boom"), { name }, extra);

describe("classify", () => {
	it("says a call the node asked never ran is not-run (and an outage)", () => {
		for (const err of [new Errors.ServiceNotFoundError({ action: "a.b" }), new Errors.ServiceNotAvailableError({ action: "a.b" })]) {
			expect(classify(err)).toBe("not-run");
			expect(wasNotRun(err)).toBe(true);
			expect(isOutage(err)).toBe(true);
		}
	});

	it("says a refused or shed request is busy, not a client error despite its 4xx code", () => {
		const queueFull = new Errors.QueueIsFullError({ action: "a.b", nodeID: "n", size: 1, limit: 1 });
		for (const err of [queueFull, new Errors.RequestRejectedError({ action: "a.b", nodeID: "n" }), new Errors.MoleculerRetryableError("away", 503, "SERVICE_UNAVAILABLE")]) {
			expect(classify(err)).toBe("busy");
			expect(isOutage(err)).toBe(true);
			expect(wasNotRun(err)).toBe(false);
		}
	});

	it("says a request that ran out of time is a timeout, and one skipped for lack of time an outage", () => {
		expect(classify(new Errors.RequestTimeoutError({ action: "a.b", nodeID: "n" }))).toBe("timeout");
		expect(classify(new Errors.RequestSkippedError({ action: "a.b", nodeID: "n" }))).toBe("outage");
		expect(isOutage(new Errors.RequestSkippedError({ action: "a.b", nodeID: "n" }))).toBe(true);
	});

	it("says Sequelize failing to reach or log in to the database is database (and an outage)", () => {
		for (const name of ["SequelizeConnectionError", "SequelizeConnectionRefusedError", "SequelizeHostNotFoundError", "SequelizeInvalidConnectionError", "SequelizeAccessDeniedError"]) {
			expect(classify(named(name))).toBe("database");
			expect(isDatabaseUnreachable(named(name))).toBe(true);
			expect(isOutage(named(name))).toBe(true);
		}
		expect(isDatabaseUnreachable(named("SequelizeUniqueConstraintError"))).toBe(false);
		expect(isDatabaseUnreachable(named("SequelizeTimeoutError"))).toBe(false);
	});

	it("says Kafka, connection and timeout errors by name, and any 503, are outages", () => {
		for (const err of [named("KafkaJSConnectionError"), named("ConnectionError"), named("NoLivingConnectionsError"), named("TimeoutError"), { code: 503 }]) {
			expect(classify(err)).toBe("outage");
			expect(isOutage(err)).toBe(true);
		}
		expect(isOutage(named("SequelizeTimeoutError"))).toBe(false);
	});

	it("says a 4xx is the client's and not an outage", () => {
		for (const err of [new Errors.ValidationError("bad", "VALIDATION_ERROR", []), new Errors.MoleculerClientError("gone", 404, "STOCK_NOT_FOUND"), { code: 409, type: "INSUFFICIENT_STOCK" }]) {
			expect(classify(err)).toBe("client");
			expect(isOutage(err)).toBe(false);
			expect(wasNotRun(err)).toBe(false);
		}
	});

	it("says anything else is a failure, and never throws on odd values", () => {
		for (const err of [new Error("bug"), new Errors.MoleculerError("x", 500, "INTERNAL"), { code: "Z_DATA_ERROR" }, { type: "constructor" }, undefined, null, "text"]) {
			expect(classify(err)).toBe("failure");
			expect(isOutage(err)).toBe(false);
		}
	});
});

describe("isUnavailableAnswer", () => {
	it("is true for a client's connection and timeout errors, 429 and 5xx answers", () => {
		for (const err of [named("ConnectionError"), named("TimeoutError"), named("NoLivingConnectionsError"), named("ResponseError", { meta: { statusCode: 429 } }), named("ResponseError", { meta: { statusCode: 503 } })])
			expect(isUnavailableAnswer(err)).toBe(true);
	});

	it("is false for other answers and errors", () => {
		for (const err of [named("ResponseError", { meta: { statusCode: 400 } }), named("ResponseError", { meta: { statusCode: 404 } }), named("ResponseError"), new Error("bug"), undefined])
			expect(isUnavailableAnswer(err)).toBe(false);
	});
});
