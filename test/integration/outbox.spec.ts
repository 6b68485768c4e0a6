import { testDialects } from "../helpers/engines";
import { createTestDatabase, type TestDatabase } from "../helpers/databases";
import { startNode, type TestNode } from "../helpers/nodes";
import { waitFor } from "../helpers/wait";
import type { Product } from "../../services/products.domain";
import type { DbServiceThis } from "../../mixins/db.mixin";

interface OutboxRow {
	type: string;
	published_at: string | null;
	attempts: number;
	last_error: string | null;
}

describe.each(testDialects())("the outbox on %s", dialect => {
	let db: TestDatabase;
	let node: TestNode | undefined;
	const outboxOf = (n: TestNode) =>
		(n.broker.getLocalService("products") as unknown as DbServiceThis).db.rows<OutboxRow>(
			"SELECT type, published_at, attempts, last_error FROM outbox ORDER BY seq"
		);

	beforeAll(async () => {
		db = await createTestDatabase(dialect);
	});
	afterEach(async () => {
		await node?.stop();
		node = undefined;
	});
	afterAll(() => db.drop());

	it("keeps events while their consumer is down and delivers them, in order, once it is back", async () => {
		node = await startNode({ DATABASE_URL: db.url, SERVICES: "products" });
		const kept = (await node.broker.call("products.create", { name: "Kept", price: 1, stock: 6 })) as Product;
		const gone = (await node.broker.call("products.create", { name: "Gone", price: 1, stock: 2 })) as Product;
		await node.broker.call("products.remove", { id: gone.id });

		const pending = await waitFor(async () => {
			const rows = await outboxOf(node!);
			return rows.length === 3 && rows[0].attempts > 0 && rows[1].attempts > 0 && rows;
		});
		expect(pending.map(r => r.type)).toEqual(["product.created", "product.created", "product.deleted"]);
		expect(pending.every(r => r.published_at === null)).toBe(true);
		expect(pending[0].last_error).toMatch(/inventory/);
		// The deletion waits behind the creation of the same product instead of overtaking it.
		expect(pending[2].attempts).toBe(0);
		await node.stop();

		node = await startNode({ DATABASE_URL: db.url });
		await expect(
			waitFor(() => node!.broker.call("inventory.get", { productId: kept.id }).catch(() => undefined), 5000)
		).resolves.toMatchObject({ onHand: 6 });
		// The deletion was delivered after the creation, so the deleted product has no stock.
		await waitFor(async () => (await outboxOf(node!)).every(r => r.published_at !== null), 5000);
		await expect(node.broker.call("inventory.get", { productId: gone.id })).rejects.toMatchObject({ code: 404 });
	});

	it("migrates once when two nodes start on the same database together", async () => {
		const fresh = await createTestDatabase(dialect);
		try {
			const nodes = await Promise.all([1, 2].map(() => startNode({ DATABASE_URL: fresh.url, SERVICES: "products,inventory" })));
			const products = nodes[0].broker.getLocalService("products") as unknown as DbServiceThis;
			const versions = await products.db.rows<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version");
			expect(versions.map(v => Number(v.version))).toEqual([1, 2]);
			await Promise.all(nodes.map(n => n.stop()));
		} finally {
			await fresh.drop();
		}
	});
});
