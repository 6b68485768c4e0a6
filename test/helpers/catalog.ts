/** Shortcuts over a broker for tests that need products with stock and read the ledger. */
import type { ServiceBroker } from "moleculer";
import { waitFor } from "./wait";
import type { Product } from "../../services/products/products.domain";
import { ON_HAND_REASONS, type Stock } from "../../services/inventory/inventory.domain";
import type { Movement } from "../../services/inventory/inventory.service";
import type { Page } from "../../lib/params";

export function catalog(broker: () => ServiceBroker) {
	const call = <T>(action: string, params: object = {}) => broker().call(action, params) as Promise<T>;

	/** Every ledger entry of a product, oldest first. */
	async function ledger(productId: string): Promise<Movement[]> {
		const all: Movement[] = [];
		for (let page = 1; ; page++) {
			const movements = await call<Page<Movement>>("inventory.movements", { productId, page, pageSize: 100 });
			all.push(...movements.items);
			if (page * 100 >= movements.total!) return all.reverse();
		}
	}

	return {
		call,
		ledger,

		/** A product whose stock record exists (created through product.created). */
		async productWithStock(stock: number, fields: Record<string, unknown> = {}): Promise<Product> {
			const product = await call<Product>("products.create", { name: "Stocked", price: 2, stock, ...fields });
			await waitFor(() => call<Stock>("inventory.get", { productId: product.id }).catch(() => undefined));
			return product;
		},

		stock: (productId: string) => call<Stock>("inventory.get", { productId }),

		/** The invariants of a stock record: 0 <= reserved <= onHand, and the ledger sums to both. */
		async expectConsistent(productId: string): Promise<Stock> {
			const stock = await call<Stock>("inventory.get", { productId });
			const entries = await ledger(productId);
			const onHand = entries.filter(m => ON_HAND_REASONS.includes(m.reason)).reduce((s, m) => s + m.delta, 0);
			const reserved = entries
				.filter(m => m.reason === "RESERVE" || m.reason === "RELEASE" || m.reason === "SALE")
				.reduce((s, m) => s + m.delta, 0);
			expect(stock.reserved).toBeGreaterThanOrEqual(0);
			expect(stock.reserved).toBeLessThanOrEqual(stock.onHand);
			expect({ onHand, reserved }).toEqual({ onHand: stock.onHand, reserved: stock.reserved });
			return stock;
		},

		/** The PENDING purchases that hold some of `productId`: their ids and the units of it they hold. */
		async pendingPurchasesOf(productId: string): Promise<Map<string, number>> {
			const held = new Map<string, number>();
			for (let page = 1; ; page++) {
				const result = await call<Page<{ id: string; items: { productId: string; quantity: number }[] }>>("purchases.list", { status: "PENDING", page, pageSize: 100 });
				for (const purchase of result.items) {
					const item = purchase.items.find(i => i.productId === productId);
					if (item) held.set(purchase.id, item.quantity);
				}
				if (page * 100 >= result.total!) return held;
			}
		}
	};
}
