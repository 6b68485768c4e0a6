/** A small HTTP client for end-to-end tests: JSON in, parsed body and headers out. */
import { request as httpRequest } from "node:http";
import { TEST_API_KEY } from "./nodes";

export interface HttpResponse<T = any> {
	status: number;
	headers: Headers;
	body: T;
}

export interface RequestOptions {
	body?: unknown;
	/** Sent as it is, for malformed or oversized bodies. */
	rawBody?: string;
	headers?: Record<string, string>;
	/** False sends no X-API-Key; a string sends that key. */
	apiKey?: string | false;
}

export function httpClient(baseUrl: () => string) {
	return async function request<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<HttpResponse<T>> {
		const headers: Record<string, string> = { ...options.headers };
		if (options.apiKey !== false) headers["X-API-Key"] = options.apiKey ?? TEST_API_KEY;
		let body: string | undefined = options.rawBody;
		if (options.body !== undefined) {
			body = JSON.stringify(options.body);
			headers["Content-Type"] ??= "application/json";
		}
		if (options.rawBody !== undefined) headers["Content-Type"] ??= "application/json";
		const response = await fetch(baseUrl() + path, { method, headers, body });
		const text = await response.text();
		const type = response.headers.get("content-type") ?? "";
		return { status: response.status, headers: response.headers, body: (type.includes("json") && text ? JSON.parse(text) : text) as T };
	};
}

/** An RFC 9457 problem answer with `status` (and `code`), without a stack trace in it. */
export function expectProblem(response: HttpResponse, status: number, code?: string): void {
	expect(response.status).toBe(status);
	expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
	expect(response.body).toMatchObject({ status, title: expect.any(String), detail: expect.any(String), type: "about:blank" });
	if (code) expect(response.body.code).toBe(code);
	expect(JSON.stringify(response.body)).not.toMatch(/\bat .*\.(ts|js):\d+/);
}

export interface RawAnswer {
	status: number;
	headers: Record<string, string>;
	body: string;
	/** Whether the server sent `100 Continue` before its answer. */
	continued: boolean;
}

/** Sends a request with exactly these headers and body, and waits for the answer. */
export function sendRaw(baseUrl: string, method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<RawAnswer> {
	return new Promise((resolve, reject) => {
		let continued = false;
		const expectsContinue = /100-continue/i.test(headers.Expect ?? "");
		const req = httpRequest(baseUrl + path, { method, headers }, res => {
			let data = "";
			res.setEncoding("utf8");
			res.on("data", chunk => (data += chunk));
			res.on("end", () => {
				resolve({ status: res.statusCode!, headers: res.headers as Record<string, string>, body: data, continued });
				req.destroy();
			});
		});
		req.on("error", reject);
		// With Expect the body goes only once the server asks for it.
		req.on("continue", () => {
			continued = true;
			req.end(body);
		});
		if (expectsContinue) req.flushHeaders();
		else req.end(body);
	});
}
