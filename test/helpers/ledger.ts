/** Checks of stock held by a cluster, through a client broker's direct calls. */
import type { ServiceBroker } from "moleculer";
import { ON_HAND_REASONS, type Stock } from "../../services/inventory/inventory.domain";
import type { Movement } from "../../services/inventory/inventory.service";
import type { Page } from "../../lib/params";

/** Every page of a paged action's answer. */
async function allPages<T>(client: ServiceBroker, action: string, params: Record<string, unknown>): Promise<T[]> {
	const items: T[] = [];
	for (let page = 1; ; page++) {
		const result = (await client.call(action, { ...params, page, pageSize: 100 })) as Page<T>;
		items.push(...result.items);
		if (page * 100 >= result.total) return items;
	}
}

/** Reads the ledger and checks it against the stock record (and the stock's own invariant); the stock. */
export async function expectLedgerAgrees(client: ServiceBroker, productId: string): Promise<Stock> {
	const stock = (await client.call("inventory.get", { productId }, { meta: { $cache: false } })) as Stock;
	const movements = await allPages<Movement>(client, "inventory.movements", { productId });
	const onHand = movements.filter(m => ON_HAND_REASONS.includes(m.reason)).reduce((s, m) => s + m.delta, 0);
	const reserved = movements.filter(m => ["RESERVE", "RELEASE", "SALE"].includes(m.reason)).reduce((s, m) => s + m.delta, 0);
	expect({ onHand, reserved }).toEqual({ onHand: stock.onHand, reserved: stock.reserved });
	expect(stock.reserved).toBeLessThanOrEqual(stock.onHand);
	return stock;
}

/** The PENDING purchases that hold some of `productId`: their ids and the units of it they hold. */
export async function pendingPurchasesOf(client: ServiceBroker, productId: string): Promise<Map<string, number>> {
	const pending = await allPages<{ id: string; items: { productId: string; quantity: number }[] }>(client, "purchases.list", { status: "PENDING" });
	const held = new Map<string, number>();
	for (const purchase of pending) {
		const item = purchase.items.find(i => i.productId === productId);
		if (item) held.set(purchase.id, item.quantity);
	}
	return held;
}
