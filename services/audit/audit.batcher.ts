/**
 * Gathers the saves of an audit store for a few milliseconds (or up to `max` of them) and
 * writes them as one batch: one statement or one bulk request for a burst of events. Each
 * save learns its own outcome; a batch that fails as a whole fails every save in it.
 */
export class SaveBatcher<T, R> {
	private queue: { item: T; resolve(result: R): void; reject(err: unknown): void }[] = [];
	private timer?: NodeJS.Timeout;
	private readonly writing = new Set<Promise<void>>();

	/** `write` answers each item of a batch, in order: its result, or the Error it failed with. */
	constructor(
		private readonly write: (items: T[]) => Promise<(R | Error)[]>,
		private readonly waitMs: number,
		private readonly max: number
	) {}

	add(item: T): Promise<R> {
		return new Promise<R>((resolve, reject) => {
			this.queue.push({ item, resolve, reject });
			if (this.queue.length >= this.max) this.flush();
			else this.timer ??= setTimeout(() => this.flush(), this.waitMs);
		});
	}

	/** Writes what is gathered and waits for every batch under way. */
	async close(): Promise<void> {
		while (this.queue.length > 0) this.flush();
		await Promise.all(this.writing);
	}

	private flush(): void {
		clearTimeout(this.timer);
		this.timer = undefined;
		const batch = this.queue.splice(0, this.max);
		if (batch.length === 0) return;
		const written = this.write(batch.map(pending => pending.item)).then(
			results => batch.forEach((pending, i) => (results[i] instanceof Error ? pending.reject(results[i]) : pending.resolve(results[i] as R))),
			err => batch.forEach(pending => pending.reject(err))
		);
		const tracked = written.finally(() => this.writing.delete(tracked));
		this.writing.add(tracked);
	}
}
