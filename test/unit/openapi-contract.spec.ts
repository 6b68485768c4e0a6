import { Contract, type Answer } from "../helpers/contract";
import { buildOpenApi } from "../../services/api/openapi";
import { PRICE, UUID, objectOf } from "../../lib/json-schema";

const WIDGET = objectOf<{ id: string; price: number }>("Widget", { id: UUID, price: PRICE });

const contract = () =>
	new Contract(
		buildOpenApi(
			[
				{
					name: "widgets",
					actions: {
						"widgets.get": { name: "widgets.get", rest: "GET /:id", params: { id: "uuid" }, openapi: { summary: "Get", answers: WIDGET } },
						"widgets.create": { name: "widgets.create", rest: "POST /", params: { price: "number" }, openapi: { summary: "Create", answers: WIDGET } },
						"widgets.remove": { name: "widgets.remove", rest: "DELETE /:id", params: { id: "uuid" }, openapi: { summary: "Remove" } }
					}
				}
			],
			{ title: "t", version: "1", basePath: "/api/v1", rateLimit: 10 }
		)
	);

const ID = "0b6f1c52-3f6e-4c0e-9d6a-2d1f7f0e8a11";
const rateHeaders = { "x-rate-limit-limit": "10", "x-rate-limit-remaining": "9", "x-rate-limit-reset": String(Date.now() + 60_000) };
const answer = (overrides: Omit<Partial<Answer>, "headers"> & { headers?: Record<string, string> }): Answer => ({
	method: "GET",
	path: `/api/v1/widgets/${ID}`,
	status: 200,
	body: { id: ID, price: 19.99 },
	...overrides,
	headers: new Headers({ "content-type": "application/json; charset=utf-8", "x-request-id": "r-1", "x-trace-id": "4bf92f3577b34da6a3ce929d0e0e4736", ...rateHeaders, ...overrides.headers })
});
const problem = (status: number, extra: Record<string, unknown> = {}) => ({
	type: "/problems/x",
	title: "X",
	status,
	detail: "d",
	code: "X",
	instance: "/api/v1/widgets",
	requestId: "r-1",
	...extra
});
const problemHeaders = { "content-type": "application/problem+json; charset=utf-8" };

describe("the contract of the OpenAPI document", () => {
	it("passes an answer that keeps to it", () => {
		expect(contract().check(answer({}))).toEqual([]);
		expect(contract().check(answer({ method: "POST", path: "/api/v1/widgets", status: 201, headers: { location: `/api/v1/widgets/${ID}` } }))).toEqual([]);
		expect(contract().check(answer({ method: "DELETE", status: 204, body: "" }))).toEqual([]);
		expect(contract().check(answer({ status: 404, headers: problemHeaders, body: problem(404) }))).toEqual([]);
	});

	it("fails an undocumented status", () => {
		expect(contract().check(answer({ status: 418, headers: problemHeaders, body: problem(418) }))).toEqual([
			expect.stringContaining("status 418 is not documented for get /api/v1/widgets/{id}")
		]);
	});

	it("fails a body that does not match its schema", () => {
		expect(contract().check(answer({ body: { id: ID, price: "19.99" } }))).toEqual([expect.stringContaining("/price must be number")]);
		expect(contract().check(answer({ body: { id: ID, price: 19.999 } }))).toEqual([expect.stringContaining('must pass "x-decimal-places" keyword validation')]);
		expect(contract().check(answer({ body: { id: ID, price: 1, extra: true } }))).toEqual([expect.stringContaining("must NOT have additional properties")]);
		expect(contract().check(answer({ status: 404, headers: problemHeaders, body: problem(409) }))).toEqual([expect.stringContaining("/status must be equal to constant")]);
		expect(contract().check(answer({ method: "DELETE", status: 204, body: "{}" }))).toEqual([expect.stringContaining("a body where the document has none")]);
	});

	it("fails a missing or malformed documented header and an undocumented media type", () => {
		const noRequestId = answer({});
		noRequestId.headers.delete("x-request-id");
		expect(contract().check(noRequestId)).toEqual([expect.stringContaining("header X-Request-ID is documented as required but missing")]);
		expect(contract().check(answer({ method: "POST", path: "/api/v1/widgets", status: 201 }))).toEqual([expect.stringContaining("header Location")]);
		expect(contract().check(answer({ headers: { "x-rate-limit-remaining": "many" } }))).toEqual([expect.stringContaining("header X-Rate-Limit-Remaining")]);
		expect(contract().check(answer({ headers: { "content-type": "text/plain" }, body: "hi" }))).toEqual([expect.stringContaining('media type "text/plain" is not documented')]);
	});

	it("lets an unknown path answer only its 404, and a path without the method only its 405", () => {
		expect(contract().check(answer({ path: "/api/v1/nothing", status: 404, headers: problemHeaders, body: problem(404) }))).toEqual([]);
		expect(contract().check(answer({ path: "/api/v1/nothing", status: 200 }))).toEqual([expect.stringContaining("no documented path matches")]);
		expect(contract().check(answer({ method: "PUT", status: 405, headers: { ...problemHeaders, allow: "GET, DELETE" }, body: problem(405) }))).toEqual([]);
		expect(contract().check(answer({ method: "PUT", status: 404, headers: problemHeaders, body: problem(404) }))).toEqual([expect.stringContaining("has no put, and it is not a 405")]);
	});

	it("counts the statuses each operation answered", () => {
		const c = contract();
		c.check(answer({}));
		c.check(answer({ status: 404, headers: problemHeaders, body: problem(404) }));
		expect(c.received.get("get /api/v1/widgets/{id}")).toEqual(new Set([200, 404]));
	});
});
