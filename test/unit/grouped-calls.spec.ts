/**
 * Calls with a batch twin, on a real (local) broker: grouped while the batch action is
 * offered, one by one while only the single one is (a rolling upgrade) or when traced, and
 * a batch call that timed out fails its items together instead of timing out once per item.
 */
import { ServiceBroker, type BrokerOptions, type Context, type ServiceSchema } from "moleculer";
import { GroupedCalls } from "../../lib/grouped-calls";

interface Item {
	n: number;
}

/** A callee noting its calls: `single` items one by one, `batches` the sizes of its batch calls. */
function callee(options: { batch: boolean; batchDelayMs?: number }) {
	const single: number[] = [];
	const batches: number[] = [];
	const actions: ServiceSchema["actions"] = {
		take: (ctx: Context<Item>) => (single.push(ctx.params.n), { taken: true })
	};
	if (options.batch)
		actions.takeMany = async (ctx: Context<{ items: Item[] }>) => {
			batches.push(ctx.params.items.length);
			if (options.batchDelayMs) await new Promise(resolve => setTimeout(resolve, options.batchDelayMs));
			return ctx.params.items.map(() => ({ taken: true }));
		};
	return { schema: { name: "callee", actions }, single, batches };
}

describe("GroupedCalls", () => {
	let broker: ServiceBroker;
	const start = async (schema: ServiceSchema, options: BrokerOptions = {}) => {
		broker = new ServiceBroker({ logger: false, transporter: undefined, ...options });
		broker.createService(schema);
		await broker.start();
		return new GroupedCalls<Item, { taken: boolean }>(broker, { single: "callee.take", batch: "callee.takeMany", param: "items" });
	};
	afterEach(() => broker?.stop());

	it("puts the items under way together in one batch call", async () => {
		const { schema, single, batches } = callee({ batch: true });
		const calls = await start(schema);
		await Promise.all([1, 2, 3, 4, 5].map(n => calls.call({ n })));
		expect(batches).toEqual([1, 4]);
		expect(single).toEqual([]);
	});

	it("calls item by item while only the single action is offered", async () => {
		const { schema, single } = callee({ batch: false });
		const calls = await start(schema);
		await Promise.all([1, 2, 3].map(n => calls.call({ n })));
		expect(single.sort()).toEqual([1, 2, 3]);
	});

	it("calls item by item when tracing is on, so each callee span has the caller's as parent", async () => {
		const { schema, single, batches } = callee({ batch: true });
		const calls = await start(schema, { tracing: { enabled: true, exporter: [] } });
		await Promise.all([1, 2].map(n => calls.call({ n })));
		expect(single.sort()).toEqual([1, 2]);
		expect(batches).toEqual([]);
	});

	it("fails the items of a batch call that timed out together, without calling again once per item", async () => {
		const { schema, single, batches } = callee({ batch: true, batchDelayMs: 300 });
		const calls = await start(schema, { requestTimeout: 100 });
		const answers = await Promise.allSettled([1, 2, 3, 4].map(n => calls.call({ n })));
		expect(answers.map(a => a.status)).toEqual(["rejected", "rejected", "rejected", "rejected"]);
		expect(answers.map(a => (a as PromiseRejectedResult).reason?.type)).toEqual(["REQUEST_TIMEOUT", "REQUEST_TIMEOUT", "REQUEST_TIMEOUT", "REQUEST_TIMEOUT"]);
		expect(batches).toEqual([1, 3]);
		expect(single).toEqual([]);
	});

	it("answers an item the batch action failed with its own failure", async () => {
		const schema: ServiceSchema = {
			name: "callee",
			actions: {
				take: () => ({ taken: true }),
				takeMany: (ctx: Context<{ items: Item[] }>) =>
					ctx.params.items.map(({ n }) => (n === 2 ? { failure: { name: "Refused", message: "not 2", code: 422, type: "REFUSED" } } : { taken: true }))
			}
		};
		const calls = await start(schema);
		const answers = await Promise.allSettled([1, 2, 3].map(n => calls.call({ n })));
		expect(answers.map(a => (a.status === "fulfilled" ? "taken" : (a.reason as Error).message))).toEqual(["taken", "not 2", "taken"]);
	});
});
