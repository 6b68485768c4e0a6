/**
 * Request bodies, one rule for every route: a body is `application/json` in UTF-8, sent as
 * it is or in gzip, deflate or Brotli, at most 1 MB decoded, a JSON object (an array is
 * JSON, but no action takes one: a 422). Anything else is refused with a 4xx before the
 * action. A body is read only when asked for, which the gateway does after the key and the
 * rate limit are checked; a client that sent `Expect: 100-continue` gets its `100
 * Continue` only then.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Transform } from "node:stream";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { Errors } from "moleculer";
import { UnprocessableError } from "../../contracts/errors";
import type { Req } from "./gateway";
import { findHostileInput } from "./input-guard";

const MAX_BODY_BYTES = 1024 * 1024;

const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

/** Whether requests of `method` take a body (only POST, PUT and PATCH; the document says the same). */
export function takesBody(method: string | undefined): boolean {
	return BODY_METHODS.has((method ?? "").toUpperCase());
}

const DECODERS: Record<string, (() => Transform) | undefined> = {
	identity: undefined,
	gzip: createGunzip,
	"x-gzip": createGunzip,
	deflate: createInflate,
	br: createBrotliDecompress
};

const refused = (status: number, code: string, message: string) => new Errors.MoleculerClientError(message, status, code);

const tooLarge = () => refused(413, "PAYLOAD_TOO_LARGE", "The request body is larger than 1 MB.");
const malformed = (detail = "The request body is not valid JSON.") => refused(400, "MALFORMED_JSON", detail);

const requestsAwaitingContinue = new WeakSet<IncomingMessage>();

/** Notes a request that sent `Expect: 100-continue` and has not been told to go on (Node's `checkContinue`). */
export function awaitContinue(req: IncomingMessage): void {
	requestsAwaitingContinue.add(req);
}

/** Whether the request carries a body (an empty Content-Length is none). */
export function hasBody(req: IncomingMessage): boolean {
	return req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
}

/** The refusal of a body's Content-Type, or undefined when it is JSON in UTF-8. */
function mediaTypeRefusal(header: string | undefined) {
	const [mediaType, ...parameters] = (header ?? "").split(";");
	if (mediaType.trim().toLowerCase() !== "application/json")
		return refused(415, "UNSUPPORTED_MEDIA_TYPE", "Send the request body as application/json.");
	for (const parameter of parameters) {
		const [name, value = ""] = parameter.split("=");
		if (name.trim().toLowerCase() === "charset" && value.trim().replace(/^"(.*)"$/, "$1").toLowerCase() !== "utf-8")
			return refused(415, "UNSUPPORTED_CHARSET", "Send the request body in UTF-8 (charset=utf-8, or no charset).");
	}
	return undefined;
}

/** The decoder of a Content-Encoding the gateway takes; throws 415 for any other. */
function decoderFor(header: string | undefined): Transform | undefined {
	const encoding = (header ?? "identity").trim().toLowerCase();
	if (!(encoding in DECODERS))
		throw refused(415, "UNSUPPORTED_ENCODING", "The request body's Content-Encoding is not supported: send it as identity, gzip, deflate or br.");
	return DECODERS[encoding]?.();
}

/** The body's bytes once decoded, refused past 1 MB (sent or decoded) without reading on. */
function readBytes(req: IncomingMessage, decoder: Transform | undefined): Promise<Buffer> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		let sent = 0;
		let decoded = 0;
		let stopped = false;
		const stop = (err: Error) => {
			if (stopped) return;
			stopped = true;
			req.unpipe();
			req.pause();
			decoder?.destroy();
			reject(err);
		};
		const count = (chunk: Buffer) => {
			decoded += chunk.length;
			if (decoded > MAX_BODY_BYTES) stop(tooLarge());
			else if (!stopped) chunks.push(chunk);
		};
		req.on("error", () => stop(refused(400, "REQUEST_ABORTED", "The request was aborted while its body was read.")));
		if (!decoder) {
			req.on("data", count);
			req.on("end", () => resolve(Buffer.concat(chunks)));
			return;
		}
		req.on("data", (chunk: Buffer) => {
			sent += chunk.length;
			if (sent > MAX_BODY_BYTES) stop(tooLarge());
		});
		decoder.on("data", count);
		decoder.on("end", () => resolve(Buffer.concat(chunks)));
		decoder.on("error", () => stop(refused(400, "UNDECODABLE_BODY", "The request body could not be decoded with its Content-Encoding.")));
		req.pipe(decoder);
	});
}

/** JSON text as the gateway takes it: an object or an array, never a bare value. */
function parseJson(bytes: Buffer): unknown {
	let text: string;
	try {
		text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
	} catch {
		throw malformed("The request body is not valid UTF-8.");
	}
	if (text.trim() === "") return undefined;
	if (!/^\s*[[{]/.test(text)) throw malformed("The request body must be a JSON object or array.");
	try {
		return JSON.parse(text);
	} catch {
		// V8's message quotes the body; it is not sent back.
		throw malformed();
	}
}

/**
 * Reads and parses the request's body, or refuses it: 415 for another media type, charset
 * or encoding, 413 past 1 MB (at once when Content-Length says so), 400 when it cannot be
 * decoded or is not JSON. Undefined when there is no body.
 */
async function readJsonBody(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
	if (!hasBody(req)) return undefined;
	const mediaType = mediaTypeRefusal(req.headers["content-type"]);
	if (mediaType) throw mediaType;
	if (Number(req.headers["content-length"]) > MAX_BODY_BYTES) throw tooLarge();
	const decoder = decoderFor(req.headers["content-encoding"]);
	if (requestsAwaitingContinue.delete(req)) res.writeContinue();
	return parseJson(await readBytes(req, decoder));
}

/**
 * moleculer-web's `authorization` hook, its last step before the action (after the rate
 * limit and the key): the body is read, body and query are checked for hostile input, and
 * the body joins the action's params.
 */
export async function acceptInput(_ctx: unknown, _route: unknown, req: Req & { query?: unknown }, res: ServerResponse): Promise<void> {
	const body = await readJsonBody(req, res);
	// No other operation documents a body: one sent with a GET or DELETE would join the params unseen.
	if (body !== undefined && !takesBody(req.method))
		throw new Errors.MoleculerClientError(`A ${req.method} takes no body; send the fields in the query.`, 400, "UNEXPECTED_BODY");
	// An array would not join the params below: the action would run as if no body had been sent.
	if (Array.isArray(body)) throw new UnprocessableError([{ field: "(body)", message: "must be a JSON object, not an array" }]);
	const hostile = findHostileInput(body) ?? findHostileInput(req.query);
	if (hostile) throw new UnprocessableError([hostile]);
	// The query and the path's parameters were merged before the body was read: they still win over it.
	if (typeof body === "object" && body !== null) req.$params = Object.assign({}, body, req.$params);
}
