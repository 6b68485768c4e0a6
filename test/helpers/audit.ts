/** The audit trail, read from the audit service itself (not through the gateway and its rate limit). */
import type { ServiceBroker } from "moleculer";
import { waitFor } from "./wait";
import type { AuditEntry } from "../../services/audit/audit.domain";
import type { Page } from "../../lib/params";

export interface AuditFilter {
	type?: string;
	aggregateId?: string;
	correlationId?: string;
	q?: string;
}

/** What the audit trail holds now that matches `filter`, newest first (the first 100 entries). */
export function auditSearch(broker: ServiceBroker, filter: AuditFilter): Promise<Page<AuditEntry>> {
	return broker.call("audit.search", { pageSize: 100, ...filter });
}

/**
 * What the audit trail holds that matches `filter` once it holds `count` entries or more:
 * the caller asserts how many it must be (a copy stored twice would show there).
 */
export function auditTrail(broker: ServiceBroker, filter: AuditFilter, count = 1, timeoutMs?: number): Promise<Page<AuditEntry>> {
	return waitFor(async () => {
		const page = await auditSearch(broker, filter);
		return page.total! >= count && page;
	}, timeoutMs);
}

/** The gateway's record of the request sent with this X-Request-Id, once audit has stored it. */
export async function requestRecord(broker: ServiceBroker, correlationId: string, timeoutMs?: number): Promise<AuditEntry> {
	return (await auditTrail(broker, { type: "http.request", correlationId }, 1, timeoutMs)).items[0];
}
