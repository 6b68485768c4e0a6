import type { ServiceSchema } from "moleculer";
import { createAjv } from "../helpers/contract";
import { money } from "../../lib/params";
import { PRICE } from "../../lib/json-schema";
import { ruleToSchema } from "../../services/api/openapi-schema";
import { gatewayPaths } from "../../services/api/openapi-gateway";
import ApiService from "../../services/api/api.service";
import ProductsService from "../../services/products/products.service";
import InventoryService from "../../services/inventory/inventory.service";
import PurchasesService from "../../services/purchases/purchases.service";
import AuditService from "../../services/audit/audit.service";
import { ADJUSTMENT_RULES } from "../../services/inventory/inventory.schemas";
import { MANUAL_REASONS, checkManualDelta } from "../../services/inventory/inventory.domain";

const PUBLIC: ServiceSchema[] = [ProductsService, InventoryService, PurchasesService, AuditService];

describe("the document's money", () => {
	const ajv = createAjv();
	const requestPrice = ajv.compile(ruleToSchema(money));
	const answeredPrice = ajv.compile(PRICE);

	it("accepts every cent value from 0.00 to 99.99, as the server does", () => {
		const refused: number[] = [];
		for (let cents = 0; cents < 10_000; cents++) {
			const price = cents / 100;
			if (!requestPrice(price) || !answeredPrice(price)) refused.push(price);
		}
		expect(refused).toEqual([]);
	});

	it("refuses a third decimal and a floating-point sum, as the server does", () => {
		for (const price of [19.999, 0.1 + 0.2, 0.001]) {
			expect(requestPrice(price)).toBe(false);
			expect(answeredPrice(price)).toBe(false);
		}
	});
});

describe("the adjustment's body rules", () => {
	const validBody = createAjv().compile({
		type: "object",
		properties: { delta: { type: "integer" }, reason: { enum: [...MANUAL_REASONS] } },
		required: ["delta", "reason"],
		allOf: [ADJUSTMENT_RULES]
	});

	it.each(MANUAL_REASONS.flatMap(reason => [-5, -1, 0, 1, 5].map(delta => [reason, delta] as const)))(
		"agree with the service on %s with delta %i",
		(reason, delta) => {
			expect(validBody({ reason, delta })).toBe(checkManualDelta(reason, delta) === undefined);
		}
	);
});

describe("the documented operations", () => {
	it("are the gateway's own routes, exactly", () => {
		const { routes } = ApiService.settings as { routes: { path: string; aliases?: Record<string, string> }[] };
		const aliased = routes.filter(route => route.aliases);
		const routed = aliased.flatMap(route =>
			Object.keys(route.aliases!).map(alias => {
				const [method, path] = alias.split(" ");
				return `${method.toLowerCase()} ${route.path}/${path.replace(/:(\w+)/g, "{$1}")}`;
			})
		);
		const documented = Object.entries(gatewayPaths()).flatMap(([path, item]) => Object.keys(item).map(method => `${method} ${path}`));
		expect(documented.sort()).toEqual(routed.sort());
	});

	it("each have a summary and, unless a DELETE, the schema of their answer", () => {
		for (const service of PUBLIC)
			for (const [name, action] of Object.entries(service.actions ?? {}) as [string, Record<string, any>][]) {
				if (!action.rest || action.visibility === "public") continue;
				const answers = String(action.rest).startsWith("DELETE") ? undefined : expect.any(String);
				// The action's name in both, so a failure says which one.
				expect({ action: `${service.name}.${name}`, summary: typeof action.openapi?.summary, answers: action.openapi?.answers?.title }).toEqual({
					action: `${service.name}.${name}`,
					summary: "string",
					answers
				});
			}
	});
});
