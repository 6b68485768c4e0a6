/**
 * Input no action should see, refused at the gateway once the body is parsed:
 * - a `__proto__` key: moleculer-web merges body and query into the action's params with
 *   Object.assign, which would make its value their prototype and slip it past validation;
 * - a NUL character: SQLite refuses it mid-statement and PostgreSQL text cannot hold it;
 * - a lone surrogate (`"\ud800"` in JSON text): it is not Unicode, so no database can store it
 *   as sent (SQLite and PostgreSQL write U+FFFD, a later read answers something else);
 * - nesting deeper than any route accepts: validators recurse over it.
 */
import type { FieldError } from "../../contracts/errors";

export const MAX_DEPTH = 16;

const fieldOf = (path: string, key: string) => (path ? `${path}.${key}` : key);

// In a `u` regular expression a surrogate pair is one code point, so this finds only lone surrogates.
const LONE_SURROGATE = /\p{Surrogate}/u;

function textProblem(text: string): string | undefined {
	if (text.includes("\u0000")) return "NUL characters";
	if (LONE_SURROGATE.test(text)) return "lone surrogates (it is not well-formed Unicode)";
	return undefined;
}

/** The first reason to refuse `value` (a parsed body or query), or undefined. */
export function findHostileInput(value: unknown, path = "", depth = 0): FieldError | undefined {
	if (typeof value === "string") {
		const problem = textProblem(value);
		return problem ? { field: path || "(body)", message: `must not contain ${problem}` } : undefined;
	}
	if (typeof value !== "object" || value === null) return undefined;
	if (depth >= MAX_DEPTH) return { field: path || "(body)", message: `is nested more than ${MAX_DEPTH} levels deep` };
	for (const key of Object.keys(value)) {
		const field = fieldOf(path, key);
		if (key === "__proto__") return { field, message: "is not an accepted field name" };
		const keyProblem = textProblem(key);
		if (keyProblem) return { field: path || "(body)", message: `has a field name with ${keyProblem}` };
		const found = findHostileInput((value as Record<string, unknown>)[key], field, depth + 1);
		if (found) return found;
	}
	return undefined;
}
