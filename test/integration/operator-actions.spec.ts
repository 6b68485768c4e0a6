/** The internal actions the operators' REPL commands read: a reservation, and what waits in an outbox. */
import { randomUUID } from "node:crypto";
import { testDialects } from "../helpers/engines";
import { useNode } from "../helpers/suite";
import { catalog } from "../helpers/catalog";
import { outboxesDrained } from "../helpers/outbox";

describe.each(testDialects())("operator actions on %s", dialect => {
	const suite = useNode(dialect);
	const { call, productWithStock } = catalog(() => suite.node.broker);

	it("inventory.reservation gives a reservation's status and items as it is held and released", async () => {
		const [a, b] = [await productWithStock(5), await productWithStock(5)];
		const reservationId = randomUUID();
		await call("inventory.reserve", { reservationId, items: [{ productId: a.id, quantity: 2 }, { productId: b.id, quantity: 1 }] });

		const held = await call<{ items: { productId: string }[] }>("inventory.reservation", { reservationId });
		expect(held).toEqual({
			id: reservationId,
			status: "HELD",
			items: expect.arrayContaining([{ productId: a.id, quantity: 2 }, { productId: b.id, quantity: 1 }]),
			createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
			updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/)
		});
		expect(held.items).toHaveLength(2);

		await call("inventory.release", { reservationId });
		await expect(call("inventory.reservation", { reservationId })).resolves.toMatchObject({ status: "RELEASED" });
	});

	it("inventory.reservation refuses an unknown id with 404 and a malformed one with 422", async () => {
		await expect(call("inventory.reservation", { reservationId: randomUUID() })).rejects.toMatchObject({ code: 404, type: "RESERVATION_NOT_FOUND" });
		await expect(call("inventory.reservation", { reservationId: "nope" })).rejects.toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
	});

	it("outboxStatus and parkedEvents report an outbox with nothing left to hand on", async () => {
		await productWithStock(1);
		await outboxesDrained(suite.node.broker);
		for (const service of ["products", "inventory", "purchases"]) {
			await expect(call(`${service}.outboxStatus`)).resolves.toEqual({ pending: 0, oldestPendingAt: null, parked: 0 });
			await expect(call(`${service}.parkedEvents`)).resolves.toEqual([]);
		}
		await expect(call("products.parkedEvents", { limit: 0 })).rejects.toMatchObject({ code: 422 });
	});
});
