/** Who sent a request: the API key it carries, looked up once per request, and moleculer-web's authentication. */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { Errors, type Context, type Service, type ServiceBroker } from "moleculer";
import { appConfig } from "../../config/broker-config";
import type { ApiKey } from "../../config/env";

/** The configured keys with their bytes, made once per configuration rather than per request. */
const keyBytes = new WeakMap<ApiKey[], { key: ApiKey; bytes: Buffer }[]>();

function findKey(keys: ApiKey[], given: string): ApiKey | undefined {
	let known = keyBytes.get(keys);
	if (!known) keyBytes.set(keys, (known = keys.map(key => ({ key, bytes: Buffer.from(key.key) }))));
	const bytes = Buffer.from(given);
	// Compares against every key so the time taken does not tell which one matched.
	let match: ApiKey | undefined;
	for (const { key, bytes: expected } of known) if (bytes.length === expected.length && timingSafeEqual(bytes, expected)) match = key;
	return match;
}

const keysOfRequests = new WeakMap<IncomingMessage, ApiKey | null>();

/** The valid API key a request carries, if any; worked out once per request (rate limit, authentication, record). */
function apiKeyOf(keys: ApiKey[], req: IncomingMessage): ApiKey | undefined {
	let key = keysOfRequests.get(req);
	if (key === undefined) {
		const given = req.headers["x-api-key"];
		key = (typeof given === "string" && findKey(keys, given)) || null;
		keysOfRequests.set(req, key);
	}
	return key ?? undefined;
}

/** The name of the valid key a request carries (never the key), if any. */
export function actorOf(broker: ServiceBroker, req: IncomingMessage): string | undefined {
	return apiKeyOf(appConfig(broker).apiKeys, req)?.name;
}

/** The rate limit's counter for a request: its key's name, or its address without a valid key. */
export function rateLimitKey(keys: ApiKey[]): (req: IncomingMessage) => string {
	return req => {
		const key = apiKeyOf(keys, req);
		return key ? `key:${key.name}` : `ip:${req.socket.remoteAddress}`;
	};
}

/** moleculer-web's authenticate: resolves the API key to its actor name; the key itself goes nowhere else. */
export function authenticate(this: Service, _ctx: Context, _route: unknown, req: IncomingMessage) {
	const given = req.headers["x-api-key"];
	if (typeof given !== "string" || given === "")
		throw new Errors.MoleculerClientError("Send your API key in the X-API-Key header.", 401, "MISSING_API_KEY");
	const key = apiKeyOf(appConfig(this.broker).apiKeys, req);
	if (!key) throw new Errors.MoleculerClientError("The API key is not valid.", 401, "INVALID_API_KEY");
	return { name: key.name };
}
