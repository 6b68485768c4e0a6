/**
 * Cache counters read from the nodes' Prometheus endpoints, before and after a run, and
 * the nodes a node knows of.
 *
 * Two caches answer a product read: the gateway's near cache (`near_cache_hits_total` /
 * `near_cache_misses_total`), which answers without calling the service at all, and on
 * its misses the service's cacher (Moleculer's `moleculer_cacher_get_total` /
 * `moleculer_cacher_found_total`).
 */

export interface Sample {
	name: string;
	labels: Record<string, string>;
	value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a Prometheus text exposition (comments skipped). */
function parsePrometheus(text: string): Sample[] {
	const samples: Sample[] = [];
	for (const line of text.split("\n")) {
		if (line === "" || line.startsWith("#")) continue;
		const match = SAMPLE_LINE.exec(line);
		if (!match) continue;
		const labels: Record<string, string> = {};
		for (const [, key, value] of (match[2] ?? "").matchAll(LABEL)) labels[key] = value;
		samples.push({ name: match[1], labels, value: Number(match[3]) });
	}
	return samples;
}

/** Every sample of one node's /metrics. */
export async function scrape(url: string): Promise<Sample[]> {
	const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
	if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
	return parsePrometheus(await res.text());
}

function sum(samples: Sample[], name: string, where: (labels: Record<string, string>) => boolean = () => true): number {
	return samples.filter(s => s.name === name && where(s.labels)).reduce((total, s) => total + s.value, 0);
}

export interface CacheCounters {
	/** API requests the gateway(s) answered (`http_requests_total` under /api/v1), those the near cache answered before any action ran included. */
	httpRequests: number;
	nearHits: number;
	nearMisses: number;
	cacherGets: number;
	cacherFound: number;
}

/** The counters of one snapshot, summed over the nodes of a topology. */
export function cacheCounters(nodes: Sample[][]): CacheCounters {
	const all = nodes.flat();
	return {
		httpRequests: sum(all, "http_requests_total", l => (l.route ?? "").startsWith("/api/v1")),
		nearHits: sum(all, "near_cache_hits_total"),
		nearMisses: sum(all, "near_cache_misses_total"),
		cacherGets: sum(all, "moleculer_cacher_get_total"),
		cacherFound: sum(all, "moleculer_cacher_found_total")
	};
}

/** HTTP requests the gateways answered (`http_requests_total`, every route and status), including those the near cache answered before any action ran. */
export function httpAnswered(nodes: Sample[][]): number {
	return sum(nodes.flat(), "http_requests_total");
}

/** How many nodes a node knows for each service (Moleculer's registry gauge), to tell when a cluster has formed. */
export function serviceNodes(samples: Sample[]): Record<string, number> {
	const counts: Record<string, number> = {};
	for (const s of samples) if (s.name === "moleculer_registry_service_endpoints_total") counts[s.labels.service] = s.value;
	return counts;
}

export interface CacheStats {
	/** Requests answered from a cache (near cache or the service's cacher) / requests. */
	hitRatio: number | null;
	requests: number;
	nearHits: number;
	nearLookups: number;
	serviceLookups: number;
	serviceHits: number;
	/** The service cacher's own ratio, found / get (a locked miss counts two gets). */
	serviceHitRatio: number | null;
	before: CacheCounters;
	after: CacheCounters;
}

/** Hit ratios over the window between two snapshots. */
export function cacheStats(before: CacheCounters, after: CacheCounters): CacheStats {
	const delta = (key: keyof CacheCounters) => after[key] - before[key];
	const requests = delta("httpRequests");
	const nearHits = delta("nearHits");
	const serviceLookups = delta("cacherGets");
	const serviceHits = delta("cacherFound");
	return {
		// The service's cacher is asked only on near-cache misses, so the two never count one request twice.
		hitRatio: requests > 0 ? Math.min(1, (nearHits + serviceHits) / requests) : null,
		requests,
		nearHits,
		nearLookups: nearHits + delta("nearMisses"),
		serviceLookups,
		serviceHits,
		serviceHitRatio: serviceLookups > 0 ? serviceHits / serviceLookups : null,
		before,
		after
	};
}
