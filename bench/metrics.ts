/**
 * Cache counters read from the nodes' Prometheus endpoints, before and after a run.
 *
 * Two caches answer a product read: the service's cacher (Moleculer's
 * `moleculer_cacher_get_total` / `moleculer_cacher_found_total`) and, when the gateway is
 * a separate node, the gateway's near cache, which answers without calling the service at
 * all. When the gateway exports no near-cache counter, its hits are inferred: every HTTP
 * request is one `api.rest` call on the gateway, and every near miss is one remote
 * `products.*` call counted by the gateway's Metrics middleware (which the near cache
 * wraps), so near hits = HTTP requests - remote product calls.
 */

export interface Sample {
	name: string;
	labels: Record<string, string>;
	value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a Prometheus text exposition (comments skipped). */
export function parsePrometheus(text: string): Sample[] {
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

/** A near-cache counter the gateway may export, found by name (none does today: see the file comment). */
function nearCacheCounter(samples: Sample[], kind: RegExp): string | undefined {
	return [...new Set(samples.map(s => s.name))].find(name => /near_?cache/i.test(name) && kind.test(name) && !/_rate$/.test(name));
}

export interface CacheCounters {
	/** HTTP requests handled by the gateway(s): `api.rest` calls. */
	httpRequests: number;
	/** Calls of product actions that reached a products service node. */
	serviceCalls: number;
	/** Calls of product actions the gateway sent to another node (its near-cache misses). */
	remoteCalls: number;
	cacherGets: number;
	cacherFound: number;
	/** Exported near-cache counters, when the gateway has them. */
	nearHits?: number;
	nearLookups?: number;
}

const isProductRead = (labels: Record<string, string>) => labels.action === "products.get" || labels.action === "products.list";

/** The counters of one snapshot, summed over the nodes of a topology. */
export function cacheCounters(nodes: Sample[][]): CacheCounters {
	const all = nodes.flat();
	const counters: CacheCounters = {
		httpRequests: sum(all, "moleculer_request_total", l => l.action === "api.rest"),
		serviceCalls: sum(all, "moleculer_request_total", l => isProductRead(l) && l.type === "local"),
		remoteCalls: sum(all, "moleculer_request_total", l => isProductRead(l) && l.type === "remote"),
		cacherGets: sum(all, "moleculer_cacher_get_total"),
		cacherFound: sum(all, "moleculer_cacher_found_total")
	};
	const hits = nearCacheCounter(all, /hit/i);
	const misses = nearCacheCounter(all, /miss/i);
	if (hits && misses) {
		counters.nearHits = sum(all, hits);
		counters.nearLookups = counters.nearHits + sum(all, misses);
	}
	return counters;
}

export interface CacheStats {
	/** Requests answered from a cache (near cache or the service's cacher) / requests. */
	hitRatio: number | null;
	requests: number;
	nearHits: number;
	/** "exported" when the gateway exports near-cache counters, "inferred" otherwise, "none" on one node. */
	nearSource: "exported" | "inferred" | "none";
	serviceLookups: number;
	serviceHits: number;
	/** The service cacher's own ratio, found / get (a locked miss counts two gets). */
	serviceHitRatio: number | null;
	before: CacheCounters;
	after: CacheCounters;
}

/** Hit ratios over the window between two snapshots; `split` when the gateway is its own node. */
export function cacheStats(before: CacheCounters, after: CacheCounters, split: boolean): CacheStats {
	const delta = (key: keyof CacheCounters) => (after[key] ?? 0) - (before[key] ?? 0);
	const requests = delta("httpRequests");
	const serviceLookups = delta("cacherGets");
	const serviceHits = delta("cacherFound");
	let nearHits = 0;
	let nearSource: CacheStats["nearSource"] = "none";
	if (after.nearHits !== undefined && before.nearHits !== undefined) {
		nearHits = delta("nearHits");
		nearSource = "exported";
	} else if (split) {
		nearHits = Math.max(0, requests - delta("remoteCalls"));
		nearSource = "inferred";
	}
	return {
		hitRatio: requests > 0 ? Math.min(1, (nearHits + serviceHits) / requests) : null,
		requests,
		nearHits,
		nearSource,
		serviceLookups,
		serviceHits,
		serviceHitRatio: serviceLookups > 0 ? serviceHits / serviceLookups : null,
		before,
		after
	};
}
