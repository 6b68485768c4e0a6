import { consumerGroupsOf } from "../../contracts/events";
import { loadConfig } from "../../config/env";
import { refuseHandlersUnlikeContract } from "../../mixins/event-consumer.mixin";
import { createNode } from "../../server";

describe("consumer groups of an event", () => {
	it("hands a purchase.created only to audit: inventory has nothing to do with it", () => {
		expect(consumerGroupsOf("purchase.created")).toEqual(["audit"]);
		expect(consumerGroupsOf("purchase.completed")).toEqual(["audit"]);
		expect(consumerGroupsOf("product.updated")).toEqual(["audit"]);
	});

	it("hands the events inventory reacts to to inventory and audit", () => {
		for (const type of ["product.created", "product.deleted", "purchase.confirmed", "purchase.cancelled"] as const)
			expect(consumerGroupsOf(type)).toEqual(["inventory", "audit"]);
		expect(consumerGroupsOf("inventory.stock-updated")).toEqual(["audit"]);
	});
});

describe("refuseHandlersUnlikeContract", () => {
	it("refuses inventory handlers that leave out or add a type", () => {
		expect(() => refuseHandlersUnlikeContract("inventory", ["product.created", "product.deleted", "purchase.confirmed"])).toThrow(/differ/);
		expect(() =>
			refuseHandlersUnlikeContract("inventory", ["product.created", "product.deleted", "purchase.confirmed", "purchase.cancelled", "purchase.created"])
		).toThrow(/differ/);
		expect(() => refuseHandlersUnlikeContract("audit", ["purchase.created"])).toThrow(/differ/);
	});

	it("accepts the services' own handlers, and any for a group outside the contract", () => {
		// Creating the services runs the check; nothing is started.
		expect(() => createNode(loadConfig({ NODE_ENV: "test", LOG_LEVEL: "error", METRICS_PORT: "0", SERVICES: "inventory,audit" }))).not.toThrow();
		expect(() => refuseHandlersUnlikeContract("test-group", [])).not.toThrow();
	});
});
