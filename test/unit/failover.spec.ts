import { failureOfCall, isSafeToRepeat, resendReasonOf } from "../../middlewares/failover.middleware";

const action = { name: "purchases.create" };

describe("failureOfCall", () => {
	it("tells a refusal before running and a lost node, when the node asked failed the call", () => {
		expect(failureOfCall({ type: "SERVICE_NOT_AVAILABLE", data: { action: "purchases.create", nodeID: "p-1" } }, action, "p-1")).toBe("not-run");
		expect(failureOfCall({ type: "QUEUE_FULL", data: { action: "purchases.create", nodeID: "p-1" } }, action, "p-1")).toBe("not-run");
		expect(failureOfCall({ type: "REQUEST_REJECTED", data: { action: "purchases.create", nodeID: "p-1" } }, action, "p-1")).toBe("lost");
		// A refusal restored from the wire names the node that sent it.
		expect(failureOfCall({ type: "SERVICE_NOT_AVAILABLE", nodeID: "p-1" }, action, "p-1")).toBe("not-run");
	});

	it("ignores what failed in a call the handler made, on another node or of another action", () => {
		expect(failureOfCall({ type: "REQUEST_REJECTED", data: { action: "inventory.reserve", nodeID: "i-1" }, nodeID: "i-1" }, action, "p-1")).toBeNull();
		expect(failureOfCall({ type: "SERVICE_NOT_AVAILABLE", data: { action: "inventory.reserve" }, nodeID: "p-1" }, action, "p-1")).toBeNull();
	});

	it("does not count a timeout or an answer of the handler as a failure to send again", () => {
		expect(failureOfCall({ type: "REQUEST_TIMEOUT", data: { action: "purchases.create", nodeID: "p-1" } }, action, "p-1")).toBeNull();
		expect(failureOfCall({ type: "INSUFFICIENT_STOCK", nodeID: "p-1" }, action, "p-1")).toBeNull();
	});
});

describe("resendReasonOf", () => {
	it("names a refusal, a full queue and a lost node apart for failover_resent_calls_total", () => {
		expect(resendReasonOf({ type: "SERVICE_NOT_AVAILABLE" }, "not-run")).toBe("not_run");
		expect(resendReasonOf({ type: "QUEUE_FULL" }, "not-run")).toBe("queue_full");
		expect(resendReasonOf({ type: "REQUEST_REJECTED" }, "lost")).toBe("node_lost");
	});
});

describe("isSafeToRepeat", () => {
	it("holds for idempotent actions, and for keyed writes only when the call carries a key", () => {
		expect(isSafeToRepeat({ name: "products.get", idempotent: true }, {})).toBe(true);
		expect(isSafeToRepeat({ name: "purchases.create", readsIdempotencyKey: true }, { idempotencyKey: "k" })).toBe(true);
		expect(isSafeToRepeat({ name: "purchases.create", readsIdempotencyKey: true }, { derivedIdempotencyKey: "g" })).toBe(true);
		expect(isSafeToRepeat({ name: "purchases.create", readsIdempotencyKey: true }, {})).toBe(false);
		expect(isSafeToRepeat({ name: "products.create" }, { idempotencyKey: "k" })).toBe(false);
	});
});
