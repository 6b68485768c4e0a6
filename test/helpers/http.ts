/** A small HTTP client for end-to-end tests: JSON in, parsed body and headers out. */
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
