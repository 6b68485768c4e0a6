import { Errors } from "moleculer";
import { problemTypeUri, toProblem } from "../../services/api/problem";

describe("toProblem", () => {
	describe("body-parser errors", () => {
		it("renders a body that is not JSON as 400 MALFORMED_JSON", () => {
			const { problem, internal } = toProblem({ type: "entity.parse.failed", status: 400, message: "Unexpected token" });
			expect(problem).toEqual({
				type: "/problems/malformed-json",
				title: "Bad Request",
				status: 400,
				code: "MALFORMED_JSON",
				detail: "The request body is not valid JSON."
			});
			expect(internal).toBe(false);
		});

		it("renders a body over the limit as 413 PAYLOAD_TOO_LARGE", () => {
			const { problem, internal } = toProblem({ type: "entity.too.large", status: 413 });
			expect(problem).toMatchObject({
				type: "/problems/payload-too-large",
				title: "Payload Too Large",
				status: 413,
				code: "PAYLOAD_TOO_LARGE"
			});
			expect(internal).toBe(false);
		});

		it("renders a body its Content-Encoding cannot decode (a zlib error) as 400, not 500", () => {
			const { problem, internal } = toProblem(new Errors.MoleculerError("incorrect header check", "Z_DATA_ERROR" as never));
			expect(problem).toMatchObject({ status: 400, code: "UNDECODABLE_BODY" });
			expect(internal).toBe(false);
		});

		it("renders an unsupported charset as 415", () => {
			expect(toProblem({ type: "charset.unsupported", status: 415 }).problem).toMatchObject({
				status: 415,
				code: "UNSUPPORTED_CHARSET",
				title: "Unsupported Media Type"
			});
		});
	});

	describe("validation errors", () => {
		it("renders a moleculer ValidationError as 422 with the invalid fields", () => {
			const err = new Errors.ValidationError("x", "VALIDATION_ERROR", [
				{ field: "price", message: "bad", type: "money" }
			]);
			const { problem, internal } = toProblem(err);
			expect(problem).toEqual({
				type: "/problems/validation-error",
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
				type: "/problems/insufficient-stock",
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
				type: "/problems/not-found",
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
				type: "/problems/internal-error",
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
				type: "/problems/service-not-available",
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
				type: "/problems/request-timeout",
				title: "Gateway Timeout",
				status: 504,
				code: "REQUEST_TIMEOUT"
			});
			expect(internal).toBe(false);
		});
	});
});

describe("problemTypeUri", () => {
	it("turns a code into a relative URI reference", () => {
		expect(problemTypeUri("VALIDATION_ERROR")).toBe("/problems/validation-error");
	});
});
