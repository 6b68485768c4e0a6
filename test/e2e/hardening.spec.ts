/**
 * The gateway's edges, as hostile or careless clients reach them: bodies in encodings and
 * media types it does not take, bodies sent without a key or past the rate limit, `Expect:
 * 100-continue`, malformed HTTP framing, methods a path does not have, paths in the wrong case.
 */
import { documentedClient } from "../helpers/contract";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { connect } from "node:net";
import { testDialects } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import { expectProblem, sendRaw } from "../helpers/http";
import { TEST_API_KEY } from "../helpers/nodes";
import { catalog } from "../helpers/catalog";

/** Writes bytes on a fresh connection and returns everything the server sends until it closes it. */
function exchange(baseUrl: string, bytes: string): Promise<string> {
	const { hostname, port } = new URL(baseUrl);
	return new Promise((resolve, reject) => {
		const socket = connect(Number(port), hostname);
		let received = "";
		socket.setEncoding("utf8");
		socket.on("data", chunk => (received += chunk));
		socket.on("close", () => resolve(received));
		socket.on("error", reject);
		socket.write(bytes);
	});
}

/** The last HTTP response in what a connection received. */
function lastResponse(received: string): { status: number; headers: Record<string, string>; body: string } {
	const starts = [...received.matchAll(/HTTP\/1\.1 \d{3} [^\r\n]*\r\n/g)].map(match => match.index);
	const text = received.slice(starts.at(-1) ?? 0);
	const [head, ...rest] = text.split("\r\n\r\n");
	const [statusLine, ...lines] = head.split("\r\n");
	const headers = Object.fromEntries(lines.map(line => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]));
	return { status: Number(statusLine.split(" ")[1]), headers, body: rest.join("\r\n\r\n") };
}

/** A problem+json answer received raw, with its status and code. */
function expectRawProblem(answer: { status: number; headers: Record<string, string>; body: string }, status: number, code: string): void {
	expect(answer.status).toBe(status);
	expect(answer.headers["content-type"]).toMatch(/^application\/problem\+json/);
	expect(JSON.parse(answer.body)).toMatchObject({ type: "about:blank", status, code, title: expect.any(String), detail: expect.any(String) });
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

describe.each(testDialects())("the gateway's edges on %s", dialect => {
	const suite = useNode(dialect);
	const request = documentedClient(() => suite.node.baseUrl!);
	const { productWithStock, stock } = catalog(() => suite.node.broker);
	const base = () => suite.node.baseUrl!;
	const withKey = (headers: Record<string, string>) => ({ "X-API-Key": TEST_API_KEY, ...headers });

	async function createProduct(body: Record<string, unknown> = {}) {
		const response = await request("POST", "/api/v1/products", { body: { name: "Edge", price: 5, ...body } });
		expect(response.status).toBe(201);
		return response.body as { id: string; version: number };
	}

	describe("Content-Encoding", () => {
		it("answers 400 UNDECODABLE_BODY to a body that is not Brotli, and logs no failure", async () => {
			const logged = jest.spyOn(suite.node.broker.getLocalService("api")!.logger, "error");
			try {
				const notBrotli = json({ name: "not brotli", price: 1 });
				const answer = await sendRaw(base(), "POST", "/api/v1/products", withKey({ "Content-Type": "application/json", "Content-Encoding": "br" }), notBrotli);
				expectRawProblem(answer, 400, "UNDECODABLE_BODY");
				expect(answer.body).not.toMatch(/\bat .*\.(ts|js):\d+/);
				expect(logged).not.toHaveBeenCalled();
			} finally {
				logged.mockRestore();
			}
			await expect(request("GET", "/api/v1/products?q=not%20brotli")).resolves.toMatchObject({ body: { total: 0 } });
		});

		it("takes a body in Brotli, gzip or deflate, and answers 415 UNSUPPORTED_ENCODING to any other encoding", async () => {
			for (const [encoding, body] of [
				["br", brotliCompressSync(json({ name: "in brotli", price: 1 }))],
				["gzip", gzipSync(json({ name: "in gzip", price: 1 }))]
			] as const) {
				const answer = await sendRaw(base(), "POST", "/api/v1/products", withKey({ "Content-Type": "application/json", "Content-Encoding": encoding }), body);
				expect(answer.status).toBe(201);
				expect(JSON.parse(answer.body)).toMatchObject({ name: `in ${encoding === "br" ? "brotli" : "gzip"}` });
			}
			for (const encoding of ["compress", "zstd", "gzip, br"]) {
				const answer = await sendRaw(base(), "POST", "/api/v1/products", withKey({ "Content-Type": "application/json", "Content-Encoding": encoding }), json({ name: "odd encoding", price: 1 }));
				expectRawProblem(answer, 415, "UNSUPPORTED_ENCODING");
			}
			await expect(request("GET", "/api/v1/products?q=odd%20encoding")).resolves.toMatchObject({ body: { total: 0 } });
		});

		it("answers 413 to a body past 1 MB once decoded, sent chunked or compressed small", async () => {
			const big = json({ name: "too big", price: 1, description: "x".repeat(1_100_000) });
			const chunked = await sendRaw(base(), "POST", "/api/v1/products", withKey({ "Content-Type": "application/json", "Transfer-Encoding": "chunked" }), big);
			expectRawProblem(chunked, 413, "PAYLOAD_TOO_LARGE");
			const bomb = gzipSync(big);
			expect(bomb.length).toBeLessThan(100_000);
			const compressed = await sendRaw(base(), "POST", "/api/v1/products", withKey({ "Content-Type": "application/json", "Content-Encoding": "gzip" }), bomb);
			expectRawProblem(compressed, 413, "PAYLOAD_TOO_LARGE");
			await expect(request("GET", "/api/v1/products?q=too%20big")).resolves.toMatchObject({ body: { total: 0 } });
		});
	});

	describe("Content-Type", () => {
		const notJson: Record<string, string>[] = [
			{ "Content-Type": "text/plain" },
			{ "Content-Type": "application/x-www-form-urlencoded" },
			{ "Content-Type": "application/merge-patch+json" },
			{}
		];

		it("answers 415 UNSUPPORTED_MEDIA_TYPE to a PATCH whose body is not application/json, and changes nothing", async () => {
			const product = await createProduct({ price: 5 });
			for (const headers of notJson) {
				const answer = await sendRaw(base(), "PATCH", `/api/v1/products/${product.id}`, withKey(headers), JSON.stringify({ price: 7, version: 99 }));
				expectRawProblem(answer, 415, "UNSUPPORTED_MEDIA_TYPE");
			}
			await expect(request("GET", `/api/v1/products/${product.id}`)).resolves.toMatchObject({ body: { price: 5, version: 1 } });
			// The same change as JSON is applied, and its stale version refused.
			const stale = await sendRaw(base(), "PATCH", `/api/v1/products/${product.id}`, withKey({ "Content-Type": "application/json; charset=utf-8" }), JSON.stringify({ price: 7, version: 99 }));
			expectRawProblem(stale, 409, "VERSION_CONFLICT");
		});

		it("answers 415 to a cancel whose reason is not application/json, and the purchase stays as it was", async () => {
			const product = await productWithStock(5);
			const created = await request("POST", "/api/v1/purchases", { body: { items: [{ productId: product.id, quantity: 2 }] } });
			expect(created.status).toBe(201);
			for (const headers of notJson) {
				const answer = await sendRaw(base(), "POST", `/api/v1/purchases/${created.body.id}/cancel`, withKey(headers), JSON.stringify({ reason: "changed my mind" }));
				expectRawProblem(answer, 415, "UNSUPPORTED_MEDIA_TYPE");
			}
			await expect(request("GET", `/api/v1/purchases/${created.body.id}`)).resolves.toMatchObject({ body: { status: "PENDING" } });
			await expect(stock(product.id)).resolves.toMatchObject({ onHand: 5, reserved: 2 });
			// Without a body a cancel needs no Content-Type.
			await expect(request("POST", `/api/v1/purchases/${created.body.id}/cancel`)).resolves.toMatchObject({ status: 200, body: { status: "CANCELLED" } });
		});

		it("applies the same rule to every route with a body", async () => {
			const product = await productWithStock(3);
			const routes: [string, string, unknown][] = [
				["POST", "/api/v1/products", { name: "form product", price: 1 }],
				["PUT", `/api/v1/products/${product.id}`, { name: "Renamed", price: 1 }],
				["PUT", `/api/v1/inventory/${product.id}/stock`, { onHand: 9 }],
				["POST", `/api/v1/inventory/${product.id}/adjustments`, { delta: 4, reason: "RESTOCK" }],
				["POST", "/api/v1/purchases", { items: [{ productId: product.id, quantity: 1 }] }]
			];
			for (const [method, path, body] of routes) {
				const answer = await sendRaw(base(), method, path, withKey({ "Content-Type": "text/plain" }), JSON.stringify(body));
				expectRawProblem(answer, 415, "UNSUPPORTED_MEDIA_TYPE");
			}
			const charset = await sendRaw(base(), "POST", "/api/v1/products", withKey({ "Content-Type": "application/json; charset=latin1" }), JSON.stringify({ name: "latin", price: 1 }));
			expectRawProblem(charset, 415, "UNSUPPORTED_CHARSET");
			await expect(stock(product.id)).resolves.toMatchObject({ onHand: 3, reserved: 0 });
			await expect(request("GET", `/api/v1/products/${product.id}`)).resolves.toMatchObject({ body: { name: "Stocked", version: 1 } });
			await expect(request("GET", "/api/v1/products?q=form%20product")).resolves.toMatchObject({ body: { total: 0 } });
		});
	});

	describe("the key before the body", () => {
		it("answers 401 to a request without a valid key whatever its body, before reading it", async () => {
			const product = await createProduct();
			const bodies: [Record<string, string>, string][] = [
				[{ "Content-Type": "application/json" }, '{"name": "x",'],
				[{ "Content-Type": "text/plain" }, "name=x"],
				[{ "Content-Type": "application/json", "Content-Encoding": "br" }, '{"name":"x","price":1}'],
				[{ "Content-Type": "application/json", "Content-Encoding": "compress" }, '{"name":"x","price":1}'],
				[{ "Content-Type": "application/json" }, '{"__proto__":{"price":2}}'],
				[{ "Content-Type": "application/json" }, `{"name":${"[".repeat(50)}1${"]".repeat(50)},"price":1}`],
				[{ "Content-Type": "application/json" }, '{"name":"x","price":"nope"}']
			];
			const keys: Record<string, string>[] = [{}, { "X-API-Key": "wrong-key-123456" }];
			for (const key of keys)
				for (const [headers, body] of bodies) {
					const answer = await sendRaw(base(), "PATCH", `/api/v1/products/${product.id}`, { ...key, ...headers }, body);
					expectRawProblem(answer, 401, "X-API-Key" in key ? "INVALID_API_KEY" : "MISSING_API_KEY");
				}
			// A body declared too large: 401 at once, without waiting for it.
			const declared = await sendRaw(base(), "POST", "/api/v1/products", { "Content-Type": "application/json", "Content-Length": "2000000" }, "{}");
			expectRawProblem(declared, 401, "MISSING_API_KEY");
			expectProblem(await request("GET", "/api/v1/products?category=a%00b", { apiKey: false }), 401, "MISSING_API_KEY");
			await expect(request("GET", `/api/v1/products/${product.id}`)).resolves.toMatchObject({ body: { version: 1 } });
		});

		it("still answers health and the documentation without a key", async () => {
			for (const path of ["/health/live", "/health/ready", "/api/openapi.json", "/api/docs"])
				expect((await request("GET", path, { apiKey: false })).status).toBe(200);
		});
	});

	describe("protocol edges", () => {
		it("answers 413 to Expect: 100-continue with a body declared over 1 MB, without sending 100 Continue", async () => {
			const big = await sendRaw(base(), "POST", "/api/v1/products", withKey({ "Content-Type": "application/json", "Content-Length": "2000000", Expect: "100-continue" }));
			expect(big.continued).toBe(false);
			expectRawProblem(big, 413, "PAYLOAD_TOO_LARGE");
			const keyless = await sendRaw(base(), "POST", "/api/v1/products", { "Content-Type": "application/json", "Content-Length": "20", Expect: "100-continue" });
			expect(keyless.continued).toBe(false);
			expectRawProblem(keyless, 401, "MISSING_API_KEY");
			// A body the gateway takes is asked for, then accepted.
			const body = json({ name: "continued", price: 1 });
			const small = await sendRaw(base(), "POST", "/api/v1/products", withKey({ "Content-Type": "application/json", "Content-Length": String(body.length), Expect: "100-continue" }), body);
			expect(small).toMatchObject({ continued: true, status: 201 });
		});

		it("answers malformed framing with a 400 problem", async () => {
			const both = await exchange(base(), "POST /api/v1/products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
			expectRawProblem(lastResponse(both), 400, "MALFORMED_REQUEST");
			// A Content-Length shorter than the body: the rest reads as a request that is not HTTP.
			const short = await exchange(base(), "GET /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}not a request\r\n\r\n");
			expect(short).toMatch(/^HTTP\/1\.1 200 /);
			expectRawProblem(lastResponse(short), 400, "MALFORMED_REQUEST");
			const twoLengths = await exchange(base(), "POST /api/v1/products HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x");
			expectRawProblem(lastResponse(twoLengths), 400, "MALFORMED_REQUEST");
		});

		it("answers 405 with Allow to a method a path does not have, and 404 to a path that is not there", async () => {
			const product = await createProduct();
			const collection = await request("DELETE", "/api/v1/products");
			expectProblem(collection, 405, "METHOD_NOT_ALLOWED");
			expect(collection.headers.get("allow")).toBe("GET, HEAD, POST, OPTIONS");
			const one = await request("POST", `/api/v1/products/${product.id}`, { body: { name: "x", price: 1 } });
			expectProblem(one, 405, "METHOD_NOT_ALLOWED");
			expect(one.headers.get("allow")).toBe("GET, HEAD, PUT, PATCH, DELETE, OPTIONS");
			expect((await request("DELETE", "/health/live", { apiKey: false })).headers.get("allow")).toBe("GET, HEAD, OPTIONS");
			const options = await request("OPTIONS", "/api/v1/products");
			expect(options.status).toBe(204);
			expect(options.headers.get("allow")).toBe("GET, HEAD, POST, OPTIONS");
			expectProblem(await request("DELETE", "/api/v1/nothing-here"), 404, "NOT_FOUND");
			await expect(request("GET", `/api/v1/products/${product.id}`)).resolves.toMatchObject({ status: 200 });
		});

		it("answers 400 MALFORMED_PATH to a path that is not valid percent-encoding, on any path and for any method", async () => {
			const cases: [string, string, boolean][] = [
				["GET", "/api/v1/products/%zz", true],
				["POST", "/api/v1/products/%C0%AF", true],
				["DELETE", "/api/v1/products/%ED%A0%80", false],
				["GET", "/api/docs/%zz", false],
				["GET", "/api/v1/nothing-%zz-here", true]
			];
			for (const [method, path, withKey] of cases) expectProblem(await request(method, path, { apiKey: withKey ? undefined : false }), 400, "MALFORMED_PATH");
		});

		it("matches routes case-sensitively", async () => {
			for (const path of ["/API/V1/PRODUCTS", "/api/v1/Products", "/Health/Live", "/api/OpenAPI.json"]) expectProblem(await request("GET", path), 404, "NOT_FOUND");
			expect((await request("GET", "/api/v1/products")).status).toBe(200);
		});

		it("gives every problem the type about:blank and a stable code", async () => {
			const problem = await request("GET", "/api/v1/products", { apiKey: false });
			expect(problem.body).toMatchObject({ type: "about:blank", title: "Unauthorized", status: 401, code: "MISSING_API_KEY" });
		});
	});
});

describe("the rate limit before the body", () => {
	const suite = useNode("sqlite", { RATE_LIMIT: "2" });

	it("answers 429 to a malformed body once the key has used its requests, without reading the body", async () => {
		const statuses: number[] = [];
		while (!statuses.includes(429)) {
			if (statuses.length >= 50) throw new Error(`never refused by the rate limit: ${statuses.join(", ")}`);
			const answer = await sendRaw(suite.node.baseUrl!, "POST", "/api/v1/products", { "X-API-Key": TEST_API_KEY, "Content-Type": "application/json" }, '{"name": "x",');
			statuses.push(answer.status);
			if (answer.status === 429) expectRawProblem(answer, 429, "RATE_LIMIT_EXCEEDED");
			else expectRawProblem(answer, 400, "MALFORMED_JSON");
		}
	});
});
