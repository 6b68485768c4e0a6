/**
 * Input no action should see, refused at the gateway once the body is parsed:
 * - a `__proto__` key: moleculer-web merges body and query into the action's params with
 *   Object.assign, which would make its value their prototype and slip it past validation;
 * - a NUL character: SQLite refuses it mid-statement and PostgreSQL text cannot hold it;
 * - nesting deeper than any route accepts: validators recurse over it.
 */
import type { FieldError } from "../../contracts/errors";

export const MAX_DEPTH = 16;

const fieldOf = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** The first reason to refuse `value` (a parsed body or query), or undefined. */
export function findHostileInput(value: unknown, path = "", depth = 0): FieldError | undefined {
	if (typeof value === "string")
		return value.includes("\u0000") ? { field: path || "(body)", message: "must not contain NUL characters" } : undefined;
	if (typeof value !== "object" || value === null) return undefined;
	if (depth >= MAX_DEPTH) return { field: path || "(body)", message: `is nested more than ${MAX_DEPTH} levels deep` };
	for (const key of Object.keys(value)) {
		const field = fieldOf(path, key);
		if (key === "__proto__") return { field, message: "is not an accepted field name" };
		if (key.includes("\u0000")) return { field: path || "(body)", message: "has a field name with a NUL character" };
		const found = findHostileInput((value as Record<string, unknown>)[key], field, depth + 1);
		if (found) return found;
	}
	return undefined;
}
