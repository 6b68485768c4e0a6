import { randomUUID } from "node:crypto";
import { testDialects } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import type { Product } from "../../services/products/products.domain";
import type { Page } from "../../lib/params";

describe.each(testDialects())("products service on %s", dialect => {
	const suite = useNode(dialect);
	const call = <T>(action: string, params: object = {}) => suite.node.broker.call(action, params) as Promise<T>;
	const create = (params: object) => call<Product>("products.create", { name: "Thing", price: 1, ...params });

	it("creates a product with exact money and a generated sku", async () => {
		const product = await create({ name: "Blue Mug", price: 12.34, category: "kitchen" });
		expect(product).toMatchObject({ name: "Blue Mug", price: 12.34, currency: "EUR", active: true, version: 1, category: "kitchen" });
		expect(product.sku).toMatch(/^BLUE-MUG-[A-Z0-9]{6}$/);
		await expect(call("products.get", { id: product.id })).resolves.toEqual(product);
	});

	it("answers concurrent getMany calls each with its own products, read together", async () => {
		const made = await Promise.all(Array.from({ length: 6 }, (_, i) => call<Product>("products.create", { name: `Many ${i}`, price: i + 1 })));
		const asks = made.map((p, i) => [p.id, made[(i + 1) % made.length].id, randomUUID()]);
		const answers = await Promise.all(asks.map(ids => call<Product[]>("products.getMany", { ids })));
		answers.forEach((found, i) => expect(found.map(p => p.id).sort()).toEqual(asks[i].slice(0, 2).sort()));
		expect(answers[0].find(p => p.id === made[0].id)).toEqual(made[0]);
	});

	it("rejects a price with more than two decimals with 422 and stores nothing", async () => {
		const before = await call<Page<Product>>("products.list", { q: "precise" });
		await expect(create({ name: "Precise", price: 1.005 })).rejects.toMatchObject({
			code: 422,
			type: "VALIDATION_ERROR",
			data: [expect.objectContaining({ field: "price", type: "money" })]
		});
		await expect(call<Page<Product>>("products.list", { q: "precise" })).resolves.toMatchObject({ total: before.total });
	});

	it("refuses a duplicate sku, whatever its case, with 409", async () => {
		await create({ sku: "DUP-1" });
		await expect(create({ sku: "dup-1" })).rejects.toMatchObject({ code: 409, type: "DUPLICATE_SKU" });
	});

	it("rejects unknown fields and out-of-range values", async () => {
		await expect(create({ colour: "red" })).rejects.toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
		await expect(create({ price: -1 })).rejects.toMatchObject({ code: 422 });
		await expect(create({ name: "" })).rejects.toMatchObject({ code: 422 });
		await expect(create({ stock: 1.5 })).rejects.toMatchObject({ code: 422 });
		await expect(create({ sku: "has space" })).rejects.toMatchObject({ code: 422 });
	});

	it("answers 404 for an unknown id and 422 for a malformed one", async () => {
		await expect(call("products.get", { id: "00000000-0000-4000-8000-000000000000" })).rejects.toMatchObject({
			code: 404,
			type: "PRODUCT_NOT_FOUND"
		});
		await expect(call("products.get", { id: "nope" })).rejects.toMatchObject({ code: 422 });
	});

	it("filters by text, category and active flag, sorts and pages", async () => {
		const tag = `cat-${dialect}-${Date.now()}`;
		await create({ name: "Alpha Lamp", price: 30, category: tag });
		await create({ name: "beta lamp", price: 10, category: tag });
		await create({ name: "Gamma Chair", price: 20, category: tag, active: false });

		const lamps = await call<Page<Product>>("products.list", { q: "LAMP", category: tag, sort: "price" });
		expect(lamps.items.map(p => p.name)).toEqual(["beta lamp", "Alpha Lamp"]);
		const inactive = await call<Page<Product>>("products.list", { category: tag, active: false });
		expect(inactive.items.map(p => p.name)).toEqual(["Gamma Chair"]);
		const page2 = await call<Page<Product>>("products.list", { category: tag, sort: "-price", page: 2, pageSize: 2 });
		expect(page2).toMatchObject({ page: 2, pageSize: 2, total: 3 });
		expect(page2.items.map(p => p.name)).toEqual(["beta lamp"]);
		await expect(call("products.list", { sort: "colour" })).rejects.toMatchObject({ code: 422 });
		await expect(call("products.list", { pageSize: 101 })).rejects.toMatchObject({ code: 422 });
	});

	it("treats % and _ in the search text literally", async () => {
		const tag = `lit-${dialect}-${Date.now()}`;
		await create({ name: "100% cotton", category: tag });
		await create({ name: "1000 cotton", category: tag });
		const found = await call<Page<Product>>("products.list", { q: "0%", category: tag });
		expect(found.items.map(p => p.name)).toEqual(["100% cotton"]);
	});

	it("patches only the given fields and bumps the version", async () => {
		const product = await create({ name: "Patchable", description: "old", category: "a" });
		const patched = await call<Product>("products.update", { id: product.id, price: 9.99 });
		expect(patched).toMatchObject({ name: "Patchable", description: "old", category: "a", price: 9.99, version: 2 });
		const unchanged = await call<Product>("products.update", { id: product.id, price: 9.99 });
		expect(unchanged.version).toBe(2);
	});

	it("replaces a product on PUT, resetting the fields left out", async () => {
		const product = await create({ name: "Replaceable", description: "old", category: "a" });
		const replaced = await call<Product>("products.replace", { id: product.id, name: "Replaced", price: 5 });
		expect(replaced).toMatchObject({ name: "Replaced", price: 5, description: null, category: null, sku: product.sku, version: 2 });
	});

	it("refuses an update made against an old version with 409", async () => {
		const product = await create({ name: "Versioned" });
		await call("products.update", { id: product.id, name: "Versioned 2", version: 1 });
		await expect(call("products.update", { id: product.id, name: "Versioned 3", version: 1 })).rejects.toMatchObject({
			code: 409,
			type: "VERSION_CONFLICT"
		});
	});

	it("refuses to take another product's sku on update", async () => {
		await create({ sku: "TAKEN-1" });
		const other = await create({ sku: "FREE-1" });
		await expect(call("products.update", { id: other.id, sku: "taken-1" })).rejects.toMatchObject({ code: 409, type: "DUPLICATE_SKU" });
	});

	it("deletes a product, then answers 404 for it", async () => {
		const product = await create({ name: "Doomed" });
		await call("products.remove", { id: product.id });
		await expect(call("products.get", { id: product.id })).rejects.toMatchObject({ code: 404 });
		await expect(call("products.remove", { id: product.id })).rejects.toMatchObject({ code: 404 });
	});

	it("shows a change on the next read, never a cached old answer", async () => {
		const product = await create({ name: "Cached" });
		await call("products.get", { id: product.id });
		await call("products.list", { q: "cached" });
		await call("products.update", { id: product.id, name: "Cached twice" });
		await expect(call("products.get", { id: product.id })).resolves.toMatchObject({ name: "Cached twice" });
		const list = await call<Page<Product>>("products.list", { q: "cached" });
		expect(list.items.map(p => p.name)).toContain("Cached twice");
	});

	it("keeps its data across a restart", async () => {
		const product = await create({ name: "Durable", price: 7.77 });
		await suite.restart();
		await expect(call("products.get", { id: product.id })).resolves.toMatchObject({ name: "Durable", price: 7.77 });
	});
});
