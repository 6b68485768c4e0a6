/**
 * No dead panel or rule: a cluster of real nodes (gateway, catalog, purchases) over NATS,
 * Redis, PostgreSQL and Kafka takes the traffic the dashboards and alerts are about; every
 * metric a rule or a panel selects must then be on some node's /metrics. A real Prometheus
 * scrapes the same nodes with the project's rules: the LowStock alert fires and is read back
 * through its HTTP API, a RED recording rule has a value, and every panel's query evaluates.
 */
import { clusterEngines, describeWith, engineUrl, KAFKA_ENV } from "../helpers/engines";
import { useCluster } from "../helpers/cluster";
import { dashboardQueries, loadDashboards } from "../helpers/grafana";
import { httpClient } from "../helpers/http";
import { scrape } from "../helpers/metrics";
import { startPrometheus, JOB, type PrometheusServer } from "../helpers/prometheus";
import { neededMetrics, projectRules } from "../helpers/promql";
import { takingTurns } from "../helpers/taking-turns";
import { requiredTool } from "../helpers/tools";
import { waitFor } from "../helpers/wait";
import { freePort, type NodeSpec } from "../../scripts/cluster-nodes";

/**
 * Metrics the rules or panels use that this traffic cannot make a node export, and why. A
 * family Moleculer registers has no line in the scrape until it has a series. Each entry must
 * still be missing from the scrape (when it appears, the entry goes).
 */
const NOT_FROM_THIS_TRAFFIC: Record<string, string> = {
	up: "written by Prometheus for each target it scrapes, not by a node (the live Prometheus test below reads it)",
	moleculer_circuit_breaker_opened_active: "has a series once a circuit opens (test/cluster/breaker.spec.ts opens one and scrapes it)",
	moleculer_circuit_breaker_half_opened_active: "has a series once an open circuit half-opens (test/cluster/breaker.spec.ts)"
};

/** A scrape or a rule evaluation waits for its turn on a loaded machine (interval 1 s, but a first scrape may take several). */
const PROMETHEUS_SETTLE_MS = 30_000;

const engines = clusterEngines();
const kafka = engineUrl(KAFKA_ENV, "127.0.0.1:9092");
const prometheusBinary = requiredTool(["prometheus"], "apt-get install -y --no-install-recommends prometheus");

/** Each metric the rules and the dashboards select, with where it is used. */
function metricsInUse(): Map<string, string[]> {
	const rules = projectRules();
	const uses = new Map<string, string[]>();
	const use = (expr: string, where: string) => {
		for (const metric of neededMetrics(expr, rules)) uses.set(metric, [...(uses.get(metric) ?? []), where]);
	};
	for (const rule of rules) use(rule.expr, `rule ${rule.record ?? rule.alert}`);
	for (const dashboard of loadDashboards().values()) for (const query of dashboardQueries(dashboard)) use(query.expr, `panel ${query.where}`);
	return uses;
}

/** The sample names of a scrape (a histogram's `_bucket`, `_sum` and `_count` apart). */
const sampleNames = (text: string) => text.split("\n").flatMap(line => (/^[a-zA-Z_:][\w:]*/.exec(line) ?? []).slice(0, 1));

describeWith(engines && kafka)("the metrics the dashboards and alerts use, on a running cluster", () => {
	takingTurns();
	jest.setTimeout(120_000);
	const topology: NodeSpec[] = [
		{ name: "gateway-1", services: "api" },
		{ name: "catalog-1", services: "products,inventory" },
		{ name: "orders-1", services: "purchases,audit" }
	];
	beforeAll(async () => {
		for (const spec of topology) spec.env = { METRICS_PORT: String(await freePort()) };
	});
	const cluster = useCluster(() => engines, topology, { KAFKA_BROKERS: kafka ?? "" });
	const request = httpClient(() => cluster.gateways[0]);
	const metricsPorts = () => topology.map(spec => Number(spec.env!.METRICS_PORT));
	let lowStockProduct: string;

	/** What the dashboards are about: catalog changes, stock running low, purchases confirmed and cancelled, cached reads, a listing, a 404. */
	async function driveTraffic() {
		const created = async (body: Record<string, unknown>) => {
			const response = await request("POST", "/api/v1/products", { body: { name: "Observed", price: 4, ...body } });
			expect(response.status).toBe(201);
			await waitFor(async () => (await request("GET", `/api/v1/inventory/${response.body.id}`)).status === 200);
			return response.body.id as string;
		};
		const plenty = await created({ stock: 50, lowStockThreshold: 2 });
		lowStockProduct = await created({ stock: 2, lowStockThreshold: 5 });
		const gone = await created({ stock: 1 });
		expect((await request("PATCH", `/api/v1/products/${plenty}`, { body: { price: 5 } })).status).toBe(200);
		expect((await request("DELETE", `/api/v1/products/${gone}`)).status).toBe(204);
		for (const next of ["confirm", "cancel"]) {
			const purchase = await request("POST", "/api/v1/purchases", { body: { items: [{ productId: plenty, quantity: 1 }] } });
			expect(purchase.status).toBe(201);
			expect((await request("POST", `/api/v1/purchases/${purchase.body.id}/${next}`, { body: {} })).status).toBe(200);
		}
		// The gateway's near cache answers the second read; calls past the gateway ask the shared cacher.
		for (let i = 0; i < 2; i++) expect((await request("GET", `/api/v1/products/${plenty}`)).status).toBe(200);
		expect((await request("GET", "/api/v1/products")).status).toBe(200);
		for (let i = 0; i < 2; i++) await cluster.client.call("products.get", { id: plenty });
		expect((await request("GET", "/api/v1/products/00000000-0000-4000-8000-000000000000")).status).toBe(404);
	}

	it("exports every metric a rule or a panel uses, after the traffic they are about", async () => {
		await driveTraffic();
		const uses = metricsInUse();
		const exported = async () => new Set((await Promise.all(metricsPorts().map(port => scrape(port)))).flatMap(sampleNames));
		const missingFrom = (names: Set<string>) => [...uses.keys()].filter(metric => !names.has(metric) && !(metric in NOT_FROM_THIS_TRAFFIC)).sort();
		// Timers (stock gauges, pool figures, connection states) and consumers report after the
		// traffic; wait for them, then name what is still missing and where it is used.
		let names = await exported();
		await waitFor(async () => missingFrom((names = await exported())).length === 0).catch(() => undefined);
		expect(missingFrom(names).map(metric => `${metric}, used by ${uses.get(metric)!.join("; ")}`)).toEqual([]);
		expect(Object.keys(NOT_FROM_THIS_TRAFFIC).filter(metric => names.has(metric) || !uses.has(metric))).toEqual([]);
	});

	(prometheusBinary ? describe : describe.skip)("scraped by a real Prometheus with the project's rules", () => {
		let prometheus: PrometheusServer;
		beforeAll(async () => {
			prometheus = await startPrometheus(prometheusBinary!, metricsPorts().map(port => `127.0.0.1:${port}`));
		});
		afterAll(() => prometheus?.stop());

		const vector = async (expr: string) => {
			const answer = await prometheus.query(expr);
			if (answer.status !== "success") throw new Error(`${expr}: ${answer.error}`);
			return answer.data.result;
		};

		it("scrapes every node of the cluster", async () => {
			const up = await waitFor(async () => {
				const result = await vector(`up{job="${JOB}"}`);
				return result.length === topology.length && result.every(sample => sample.value[1] === "1") && result;
			}, PROMETHEUS_SETTLE_MS);
			expect(up.map(sample => sample.metric.instance).sort()).toEqual(metricsPorts().map(port => `127.0.0.1:${port}`).sort());
		});

		it("fires LowStock for the product under its threshold, read back through the alerts API", async () => {
			expect(lowStockProduct).toBeDefined();
			const alert = await waitFor(async () => (await prometheus.alerts()).find(a => a.labels.alertname === "LowStock" && a.state === "firing"), PROMETHEUS_SETTLE_MS);
			expect(alert).toMatchObject({ labels: { alertname: "LowStock", severity: "info" }, state: "firing" });
			expect(Number(alert.value)).toBeGreaterThanOrEqual(1);
			// Nothing else that the traffic should not cause: no node missing, no error-rate page.
			const names = (await prometheus.alerts()).map(a => a.labels.alertname);
			for (const quiet of ["NodeMissing", "HighErrorRate", "AvailabilityBudgetBurnFast"]) expect(names).not.toContain(quiet);
		});

		it("records the RED figures: requests per route at the gateway", async () => {
			// A rate needs the series to move between two scrapes: more listings once Prometheus has the
			// listing's series (started by the traffic: a series Prometheus first sees at 3 is 3 all along).
			await waitFor(async () => (await vector('http_requests_total{route="/api/v1/products", method="GET"}')).length > 0);
			for (let i = 0; i < 3; i++) expect((await request("GET", "/api/v1/products")).status).toBe(200);
			const productsRoute = await waitFor(async () => {
				const result = await vector('route:http_requests:rate5m{route="/api/v1/products"}');
				return result.find(sample => Number(sample.value[1]) > 0);
			});
			expect(productsRoute.metric).toEqual({ __name__: "route:http_requests:rate5m", route: "/api/v1/products" });
		});

		it("evaluates every panel's query without an error, and with data unless it needs a metric this traffic cannot cause", async () => {
			const rules = projectRules();
			const failuresNow = async () => {
				const failures: string[] = [];
				for (const dashboard of loadDashboards().values())
					for (const query of dashboardQueries(dashboard)) {
						const answer = await prometheus.query(query.expr);
						const mayBeEmpty = neededMetrics(query.expr, rules).some(metric => metric in NOT_FROM_THIS_TRAFFIC);
						if (answer.status !== "success") failures.push(`${query.where}: ${answer.error}`);
						else if (answer.data.result.length === 0 && !mayBeEmpty) failures.push(`${query.where}: no data`);
					}
				return failures;
			};
			// A rate or an increase needs two scrapes of a series in its window: on a loaded machine a
			// node's may come later than the others', so an empty panel gets a while before it counts.
			let failures = await failuresNow();
			await waitFor(async () => (failures = await failuresNow()).length === 0, PROMETHEUS_SETTLE_MS).catch(() => undefined);
			expect(failures).toEqual([]);
		});
	});
});
