/** The JSON Schema of what audit's search answers, for the OpenAPI document; typed against `AuditEntry`, so the two cannot drift. */
import { DATE_TIME, STRING, objectOf, oneOfStrings, orNull, pageSchemaOf } from "../../lib/json-schema";
import type { AuditEntry } from "./audit.domain";

const AUDIT_ENTRY = objectOf<AuditEntry>("AuditEntry", {
	id: STRING,
	kind: oneOfStrings(["event", "request"]),
	type: STRING,
	source: STRING,
	aggregateId: orNull(STRING),
	correlationId: STRING,
	traceId: orNull(STRING),
	actor: orNull(STRING),
	occurredAt: DATE_TIME,
	payload: { type: "object", description: "The event's payload, or the request record (method, route, path, status, durationMs)." }
});

export const AUDIT_ENTRY_PAGE = pageSchemaOf(AUDIT_ENTRY, { cursors: true });
