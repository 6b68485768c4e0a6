/**
 * Calls of an action that has a batch twin (`consumeEvent` and `consumeEvents`,
 * `recordRequest` and `recordRequests`): the items under way at one time go in one call of
 * the batch action (lib/group-commit.ts), each answered on its own. An item goes in a call
 * of its own when tracing is on, so the callee's span is a child of the caller's, and while
 * only nodes from before the batch action offer the single one (a rolling upgrade). The
 * batch action answers with `answerEach`.
 */
import type { CallingOptions, ServiceBroker } from "moleculer";
import type { ItemAnswer, PlainFailure } from "../contracts/errors";
import { failureFrom, isOutage, plainFailure, wasNotRun } from "./failures";
import { GroupCommit } from "./group-commit";

/** The batch action's side: each item handled on its own, its failure answered as its own instead of failing the call. */
export function answerEach<T, A>(items: T[], handle: (item: T) => Promise<A>): Promise<ItemAnswer<A>[]> {
	return Promise.all(items.map(item => handle(item).catch((err: unknown) => ({ failure: plainFailure(err) }))));
}

export interface GroupedCallsOptions {
	/** The action that takes one item as its params. */
	single: string;
	/** The action that takes `{ [param]: items }` and answers each item. */
	batch: string;
	param: string;
}

export class GroupedCalls<T extends object, A extends object> {
	private readonly grouped: GroupCommit<T, ItemAnswer<A>>;

	constructor(
		private readonly broker: ServiceBroker,
		private readonly options: GroupedCallsOptions
	) {
		this.grouped = new GroupCommit(items => broker.call(options.batch, { [options.param]: items }) as Promise<ItemAnswer<A>[]>, {
			concurrency: 1,
			// Item by item when an item may be at fault, or when the node asked ran nothing (they go
			// to another at once); a callee too slow or away fails them all at once, each caller retrying.
			retryAlone: err => !isOutage(err) || wasNotRun(err)
		});
	}

	/** Resolves once the item is taken; `single` are the options of a call of its own (its parent span, its meta). */
	async call(item: T, single: CallingOptions = {}): Promise<void> {
		if (this.broker.isTracingEnabled() || this.onlySingleOffered()) {
			await this.broker.call(this.options.single, item, single);
			return;
		}
		const answer = await this.grouped.add(item);
		if ("failure" in answer) throw failureFrom(answer.failure as PlainFailure);
	}

	/** With neither offered the batch call goes, and fails as any call to a service that is away. */
	private onlySingleOffered(): boolean {
		const { actions } = this.broker.registry;
		return !actions.get(this.options.batch)?.hasAvailable() && Boolean(actions.get(this.options.single)?.hasAvailable());
	}
}
