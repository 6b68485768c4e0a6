/**
 * Group commit: the writes that arrive while a batch is being written go together in the
 * next one, as one statement or one transaction, so N concurrent writers cost about one
 * commit instead of N. There is no timer: a lone write goes at once and waits for nothing.
 * A batch that fails as a whole is written again one item at a time (it wrote nothing, being
 * one statement or one transaction), so one bad item fails only its own caller; unless
 * `retryAlone` says the failure is not the items' (a callee that timed out would only time
 * out again, once per item): then every item fails with it at once. A read that
 * every request makes can be grouped the same way: one statement answers many callers.
 */
export class GroupCommit<T, R> {
	private queue: { item: T; resolve(result: R): void; reject(err: unknown): void }[] = [];
	private writing = 0;
	private readonly max: number;
	private readonly concurrency: number;
	private readonly retryAlone: (err: unknown) => boolean;

	/**
	 * `write` writes a batch and answers each item, in order. `max` items at most per batch;
	 * `concurrency` batches at most under way at once (each holds a database connection).
	 * `retryAlone`: whether a batch that failed so is written again item by item (always, by default).
	 */
	constructor(
		private readonly write: (items: T[]) => Promise<R[]>,
		options: { max?: number; concurrency?: number; retryAlone?: (err: unknown) => boolean } = {}
	) {
		this.max = options.max ?? 100;
		this.concurrency = options.concurrency ?? 2;
		this.retryAlone = options.retryAlone ?? (() => true);
	}

	/** Writes `item` with the others waiting at the time; resolves with its own answer. */
	add(item: T): Promise<R> {
		return new Promise<R>((resolve, reject) => {
			this.queue.push({ item, resolve, reject });
			this.next();
		});
	}

	private next(): void {
		while (this.writing < this.concurrency && this.queue.length > 0) {
			const batch = this.queue.splice(0, this.max);
			this.writing++;
			void this.run(batch).finally(() => {
				this.writing--;
				this.next();
			});
		}
	}

	private async run(batch: GroupCommit<T, R>["queue"]): Promise<void> {
		try {
			const results = await this.write(batch.map(pending => pending.item));
			if (results.length !== batch.length) throw new Error(`a group commit answered ${results.length} of ${batch.length} items`);
			batch.forEach((pending, i) => pending.resolve(results[i]));
		} catch (err) {
			if (batch.length === 1 || !this.retryAlone(err)) return batch.forEach(pending => pending.reject(err));
			// One after the other: the batch's turn, not a connection each.
			for (const pending of batch) {
				try {
					const [result] = await this.write([pending.item]);
					pending.resolve(result);
				} catch (alone) {
					pending.reject(alone);
				}
			}
		}
	}
}
