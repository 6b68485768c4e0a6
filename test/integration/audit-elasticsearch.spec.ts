import { randomBytes, randomUUID } from "node:crypto";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describeWith, engineUrl, ELASTICSEARCH_ENV } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import { httpClient } from "../helpers/http";
import { waitFor } from "../helpers/wait";
import { catalog } from "../helpers/catalog";
import { ElasticsearchAuditStore, monthlyIndex } from "../../services/audit/elasticsearch-store";
import type { AuditEntry } from "../../services/audit/store";

const url = engineUrl(ELASTICSEARCH_ENV, "http://127.0.0.1:9200");

function entry(fields: Partial<AuditEntry> = {}): AuditEntry {
	return {
		id: randomUUID(),
		kind: "event",
		type: "product.created",
		source: "products",
		aggregateId: randomUUID(),
		correlationId: `c-${randomUUID()}`,
		actor: "shop",
		occurredAt: new Date().toISOString(),
		payload: { product: { name: "Lamp" } },
		...fields
	};
}

describeWith(url)("the Elasticsearch audit store", () => {
	// Not under "audit-": its template would overlap the product's own.
	const prefix = `t${randomBytes(4).toString("hex")}-audit`;
	let store: ElasticsearchAuditStore;

	beforeAll(async () => {
		store = ElasticsearchAuditStore.connect(url!, prefix);
		await store.init();
	});
	afterAll(async () => {
		await store.client.indices.delete({ index: `${prefix}-*`, ignore_unavailable: true });
		await store.client.indices.deleteIndexTemplate({ name: `${prefix}-audit` });
		await store.close();
	});
	const refresh = () => store.client.indices.refresh({ index: `${prefix}-*` });

	it("keeps one document per event id, in the index of its month", async () => {
		const first = entry({ occurredAt: "2026-03-15T10:00:00.000Z" });
		await store.save(first);
		await store.save({ ...first, actor: "redelivered" });
		await refresh();
		const found = await store.search({ aggregateId: first.aggregateId!, page: 1, pageSize: 10 });
		expect(found.total).toBe(1);
		expect(found.items[0]).toMatchObject({ id: first.id, actor: "redelivered", payload: first.payload });
		const doc = await store.client.get({ index: monthlyIndex(prefix, first.occurredAt), id: first.id });
		expect(doc.found).toBe(true);
		expect(monthlyIndex(prefix, first.occurredAt)).toBe(`${prefix}-2026.03`);
	});

	it("filters by type, aggregate, correlation id and time, searches the payload's text, newest first", async () => {
		const aggregateId = randomUUID();
		const correlationId = `c-${randomUUID()}`;
		const entries = [
			entry({ aggregateId, correlationId, occurredAt: "2026-04-01T10:00:00.000Z", payload: { product: { name: "Walnut Desk" } } }),
			entry({ aggregateId, correlationId, type: "product.updated", occurredAt: "2026-04-02T10:00:00.000Z", payload: { changed: ["price"] } }),
			entry({ aggregateId, type: "product.deleted", occurredAt: "2026-05-03T10:00:00.000Z", payload: { sku: "WD-1" } })
		];
		await Promise.all(entries.map(e => store.save(e)));
		await refresh();
		const all = await store.search({ aggregateId, page: 1, pageSize: 10 });
		expect(all.items.map(e => e.type)).toEqual(["product.deleted", "product.updated", "product.created"]);
		await expect(store.search({ aggregateId, type: "product.updated", page: 1, pageSize: 10 })).resolves.toMatchObject({ total: 1 });
		await expect(store.search({ correlationId, page: 1, pageSize: 10 })).resolves.toMatchObject({ total: 2 });
		const april = await store.search({ aggregateId, from: new Date("2026-04-01T00:00:00Z"), to: new Date("2026-04-30T23:59:59Z"), page: 1, pageSize: 10 });
		expect(april.total).toBe(2);
		const text = await store.search({ q: "walnut desk", aggregateId, page: 1, pageSize: 10 });
		expect(text.items.map(e => e.type)).toEqual(["product.created"]);
		const paged = await store.search({ aggregateId, page: 2, pageSize: 2 });
		expect(paged).toMatchObject({ total: 3, page: 2, items: [expect.objectContaining({ type: "product.created" })] });
	});
});

describeWith(url)("the audit API on Elasticsearch", () => {
	const suite = useNode("sqlite", { ELASTICSEARCH_URL: url ?? "" });
	const request = httpClient(() => suite.node.baseUrl!);
	const { productWithStock } = catalog(() => suite.node.broker);

	it("answers GET /api/v1/audit from Elasticsearch, each event once", async () => {
		const product = await productWithStock(3, { name: `Indexed ${randomBytes(3).toString("hex")}` });
		const purchase = await request("POST", "/api/v1/purchases", { body: { items: [{ productId: product.id, quantity: 1 }] } });
		await request("POST", `/api/v1/purchases/${purchase.body.id}/confirm`);
		const trail = await waitFor(async () => {
			const page = await request("GET", `/api/v1/audit?aggregateId=${purchase.body.id}`);
			return page.body.total === 2 && page.body;
		}, 10_000);
		expect(trail.items.map((e: { type: string }) => e.type)).toEqual(["purchase.confirmed", "purchase.created"]);
		const byName = await waitFor(async () => {
			const page = await request("GET", `/api/v1/audit?q=${encodeURIComponent(product.name)}&type=product.created`);
			return page.body.total === 1 && page.body;
		}, 10_000);
		expect(byName.items[0].aggregateId).toBe(product.id);
		await expect(request("GET", "/health/ready")).resolves.toMatchObject({ status: 200, body: { checks: { "audit.database": "up" } } });
	});
});

const infra = (...args: string[]) =>
	new Promise<void>((resolve, reject) => {
		const child = spawn("bash", [join(__dirname, "../../scripts/infra.sh"), ...args], { stdio: "ignore" });
		child.once("exit", code => (code === 0 ? resolve() : reject(new Error(`infra.sh ${args.join(" ")} exited with ${code}`))));
	});

describeWith(url && process.env.TEST_ELASTICSEARCH_RESTARTABLE === "true")("auditing while Elasticsearch is down", () => {
	jest.setTimeout(120_000);
	const suite = useNode("sqlite", { ELASTICSEARCH_URL: url ?? "" });
	const request = httpClient(() => suite.node.baseUrl!);
	afterAll(() => infra("up", "elasticsearch"));

	it("accepts every write, retries the audit, and makes each event searchable once when it is back", async () => {
		await infra("down", "elasticsearch");
		const tag = randomBytes(4).toString("hex");
		const ids: string[] = [];
		for (let i = 0; i < 3; i++) {
			const created = await request("POST", "/api/v1/products", { body: { name: `Unaudited ${tag} ${i}`, price: 1 } });
			expect(created.status).toBe(201);
			ids.push(created.body.id);
		}
		await infra("up", "elasticsearch");
		for (const id of ids) {
			const page = await waitFor(async () => {
				const found = await request("GET", `/api/v1/audit?aggregateId=${id}&type=product.created`);
				return found.status === 200 && found.body.total >= 1 && found.body;
			}, 60_000);
			expect(page.total).toBe(1);
		}
	});
});
