import { Errors } from "moleculer";
import { framingProblem, toProblem } from "../../services/api/problem";

describe("toProblem", () => {
	describe("refused bodies", () => {
		it("renders the body reader's refusal with its status and code", () => {
			const { problem, internal } = toProblem(new Errors.MoleculerClientError("Send the request body as application/json.", 415, "UNSUPPORTED_MEDIA_TYPE"));
			expect(problem).toEqual({
				type: "about:blank",
				title: "Unsupported Media Type",
				status: 415,
				code: "UNSUPPORTED_MEDIA_TYPE",
				detail: "Send the request body as application/json."
			});
			expect(internal).toBe(false);
		});
	});

	describe("validation errors", () => {
		it("renders a moleculer ValidationError as 422 with the invalid fields", () => {
			const err = new Errors.ValidationError("x", "VALIDATION_ERROR", [
				{ field: "price", message: "bad", type: "money" }
			]);
			const { problem, internal } = toProblem(err);
			expect(problem).toEqual({
				type: "about:blank",
				title: "Unprocessable Entity",
				status: 422,
				code: "VALIDATION_ERROR",
				detail: "The request has invalid fields.",
				errors: [{ field: "price", message: "bad" }]
			});
			expect(internal).toBe(false);
		});

		it("names a field-less validation failure (body)", () => {
			const err = new Errors.ValidationError("x", "VALIDATION_ERROR", [{ field: "", message: "must be an object" }]);
			expect(toProblem(err).problem.errors).toEqual([{ field: "(body)", message: "must be an object" }]);
		});

		it("keeps the message of a validation error without field details", () => {
			const err = new Errors.ValidationError("The ids do not match.", "VALIDATION_ERROR", {});
			expect(toProblem(err).problem).toMatchObject({
				status: 422,
				code: "VALIDATION_ERROR",
				detail: "The ids do not match.",
				errors: []
			});
		});
	});

	describe("client errors", () => {
		it("keeps the type of a 409 as code, with its message and data", () => {
			const err = new Errors.MoleculerClientError("Not enough stock.", 409, "INSUFFICIENT_STOCK", {
				items: [{ productId: "p1", requested: 3, available: 1 }]
			});
			const { problem, internal } = toProblem(err);
			expect(problem).toEqual({
				type: "about:blank",
				title: "Conflict",
				status: 409,
				code: "INSUFFICIENT_STOCK",
				detail: "Not enough stock.",
				data: { items: [{ productId: "p1", requested: 3, available: 1 }] }
			});
			expect(internal).toBe(false);
		});

		it("derives the code from the reason phrase when the error has no type", () => {
			const { problem } = toProblem({ code: 404, message: "Nothing here." });
			expect(problem).toEqual({
				type: "about:blank",
				title: "Not Found",
				status: 404,
				code: "NOT_FOUND",
				detail: "Nothing here."
			});
		});

		it("reads the status from statusCode when code is not a number", () => {
			expect(toProblem({ code: "EAUTH", statusCode: 401, type: "INVALID_KEY", message: "Bad key." }).problem).toMatchObject({
				status: 401,
				title: "Unauthorized",
				code: "INVALID_KEY"
			});
		});
	});

	describe("server errors", () => {
		it("hides an unknown error behind a 500 marked internal", () => {
			const { problem, internal } = toProblem(new Error("SELECT * FROM products failed: password=hunter2"));
			expect(problem).toEqual({
				type: "about:blank",
				title: "Internal Server Error",
				status: 500,
				code: "INTERNAL_ERROR",
				detail: expect.any(String)
			});
			expect(problem.detail).not.toContain("SELECT");
			expect(problem.detail).not.toContain("hunter2");
			expect(internal).toBe(true);
		});

		it("hides the type and data of a moleculer server error", () => {
			const err = new Errors.MoleculerServerError("db down", 500, "DB_ERROR", { sql: "SELECT 1" });
			const { problem, internal } = toProblem(err);
			expect(problem).toMatchObject({ status: 500, code: "INTERNAL_ERROR" });
			expect(problem).not.toHaveProperty("data");
			expect(internal).toBe(true);
		});

		it.each([null, undefined, "boom", 42])("renders the thrown value %p as a 500", value => {
			expect(toProblem(value)).toMatchObject({ problem: { status: 500, code: "INTERNAL_ERROR" }, internal: true });
		});
	});

	describe("cluster errors", () => {
		it("renders SERVICE_NOT_AVAILABLE as 503, not as the 404 moleculer gives it", () => {
			const err = new Errors.ServiceNotAvailableError({ action: "products.get", nodeID: "node-1" });
			const { problem, internal } = toProblem(err);
			expect(problem).toEqual({
				type: "about:blank",
				title: "Service Unavailable",
				status: 503,
				code: "SERVICE_NOT_AVAILABLE",
				detail: expect.any(String)
			});
			expect(problem.detail).not.toContain("node-1");
			expect(internal).toBe(false);
		});

		it("renders SERVICE_NOT_FOUND as 503", () => {
			const err = new Errors.ServiceNotFoundError({ action: "products.get" });
			expect(toProblem(err).problem).toMatchObject({ status: 503, code: "SERVICE_NOT_FOUND" });
		});

		it("renders REQUEST_TIMEOUT as 504", () => {
			const err = new Errors.RequestTimeoutError({ action: "inventory.reserve", nodeID: "node-2" });
			const { problem, internal } = toProblem(err);
			expect(problem).toMatchObject({
				type: "about:blank",
				title: "Gateway Timeout",
				status: 504,
				code: "REQUEST_TIMEOUT"
			});
			expect(internal).toBe(false);
		});
	});
});

describe("framingProblem", () => {
	it("renders what Node's HTTP parser refused as 400 MALFORMED_REQUEST", () => {
		expect(framingProblem({ code: "HPE_UNEXPECTED_CONTENT_LENGTH" })).toEqual({
			type: "about:blank",
			title: "Bad Request",
			status: 400,
			code: "MALFORMED_REQUEST",
			detail: expect.any(String)
		});
		expect(framingProblem({})).toMatchObject({ status: 400, code: "MALFORMED_REQUEST" });
	});

	it("renders headers too large as 431 and a request too slow to arrive as 408", () => {
		expect(framingProblem({ code: "HPE_HEADER_OVERFLOW" })).toMatchObject({ status: 431, code: "HEADERS_TOO_LARGE", title: "Request Header Fields Too Large" });
		expect(framingProblem({ code: "ERR_HTTP_REQUEST_TIMEOUT" })).toMatchObject({ status: 408, code: "REQUEST_INCOMPLETE", title: "Request Timeout" });
	});
});
