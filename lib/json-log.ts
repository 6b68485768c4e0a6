/**
 * LOG_FORMAT=json: each line one JSON object with the time, level, message, node and
 * service, and the ids of the call or event it was written in (lib/log-context.ts).
 * Errors keep their name, code, type, message and stack, never their `data`; objects
 * logged along are printed without the fields that carry payloads, params or keys, in
 * the pretty format as well (`printedObject`).
 */
import { inspect } from "node:util";
import { currentLogContext, type LogContext } from "./log-context";

/** What Moleculer's logger knows of the module that writes (a service or the broker). */
export interface LogBindings {
	nodeID: string;
	mod: string;
	svc?: string;
}

export interface LoggedError {
	name: string;
	message: string;
	code?: number | string;
	type?: string;
	stack?: string;
}

export interface JsonLogLine extends LogContext {
	time: string;
	level: string;
	msg: string;
	node: string;
	service: string;
	error?: LoggedError;
}

/** Fields whose values are what the product never logs: request and event bodies, call params and meta, keys. */
const WITHHELD = /^(params|payload|body|data|meta|headers|items|idempotencykey|derivedidempotencykey|apikey|apikeys|x-api-key|idempotency-key|authorization|password|secret|token|key)$/i;
const MAX_DEPTH = 3;

export function loggedError(err: Error): LoggedError {
	const { code, type } = err as { code?: unknown; type?: unknown };
	return {
		name: err.name,
		message: err.message,
		...(typeof code === "number" || typeof code === "string" ? { code } : {}),
		...(typeof type === "string" ? { type } : {}),
		stack: err.stack
	};
}

/** A copy of `value` with withheld fields replaced and errors reduced to what `loggedError` keeps. */
export function withheld(value: unknown, depth = 0): unknown {
	if (value instanceof Error) return loggedError(value);
	if (value === null || typeof value !== "object") return value;
	if (depth >= MAX_DEPTH) return "[...]";
	if (Array.isArray(value)) return value.map(item => withheld(item, depth + 1));
	return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, WITHHELD.test(key) ? "[withheld]" : withheld(item, depth + 1)]));
}

/** An object logged along with a message, as either format prints it: without what `withheld` leaves out. */
export function printedObject(value: object, colors = false): string {
	if (value instanceof Error) {
		const { code, type, stack, name, message } = loggedError(value);
		return `${type === undefined ? "" : `[${type} ${code ?? ""}] `}${stack ?? `${name}: ${message}`}`;
	}
	return inspect(withheld(value), { depth: MAX_DEPTH + 1, breakLength: Number.POSITIVE_INFINITY, colors });
}

const printed = (arg: unknown): string => {
	if (typeof arg === "string") return arg;
	if (arg instanceof Error) return arg.message;
	if (arg === null || typeof arg !== "object") return String(arg);
	return printedObject(arg);
};

/** One log line as JSON; the first error among the arguments becomes its `error` field. */
export function jsonLogLine(level: string, args: unknown[], bindings: LogBindings, context: LogContext, now = new Date()): string {
	const error = args.find((arg): arg is Error => arg instanceof Error);
	const line: JsonLogLine = {
		time: now.toISOString(),
		level,
		msg: args.map(printed).join(" "),
		node: bindings.nodeID,
		service: bindings.svc ?? bindings.mod,
		...context,
		...(error ? { error: loggedError(error) } : {})
	};
	return JSON.stringify(line);
}

/** The formatter Moleculer's Console logger calls for each line (it prints what it returns). */
export function jsonLogFormatter(level: string, args: unknown[], bindings: LogBindings): string[] {
	return [jsonLogLine(level, args, bindings, currentLogContext())];
}

/** Node's own process warnings, which it prints as plain text, written as lines of `logger` instead. */
export function logProcessWarnings(logger: { warn(...args: unknown[]): void }): void {
	process.removeAllListeners("warning");
	process.on("warning", warning => logger.warn("Process warning:", warning));
}
