/**
 * A gateway without a service's routes (starting, or the service runs on no node) answers a
 * request for that service 503 with Retry-After, not 404: the path exists, its service is
 * not there yet. A path of no service is still a 404.
 */
import { expectProblem, httpClient } from "../helpers/http";
import { startNode, type TestNode } from "../helpers/nodes";

describe("a gateway whose services are not there", () => {
	let node: TestNode;
	const request = httpClient(() => node.baseUrl!);

	beforeAll(async () => {
		node = await startNode({ SERVICES: "api" });
	});
	afterAll(() => node?.stop());

	it("answers a request to a missing service's routes 503 SERVICE_NOT_AVAILABLE, to be tried again", async () => {
		for (const [method, path] of [["POST", "/api/v1/products"], ["GET", "/api/v1/inventory/6e1b2665-7fc2-4c8d-929a-76b1e64c8a2c"], ["GET", "/api/v1/purchases"]] as const) {
			const answer = await request(method, path, method === "POST" ? { body: { name: "Lamp", price: 3 } } : {});
			expectProblem(answer, 503, "SERVICE_NOT_AVAILABLE");
			expect(answer.headers.get("retry-after")).toBe("5");
		}
	});

	it("still answers 404 for a path no service has", async () => {
		expectProblem(await request("GET", "/api/v1/warehouses"), 404, "NOT_FOUND");
		expectProblem(await request("GET", "/nowhere"), 404, "NOT_FOUND");
	});
});
