/**
 * Reads of one key that share a round trip, each still started after its caller asked: a
 * caller joins the read that is waiting to be sent, never one already in flight, whose
 * answer may predate the caller's request. Under load a hundred callers of a key cost one
 * read per round trip instead of a hundred, and each sees what was true after it asked.
 */
export class CoalescedReads<T> {
	/** Per key: the read in flight (settled or not, until the next one is sent), and the one waiting for it. */
	private readonly reads = new Map<string, { inFlight?: Promise<void>; waiting?: Promise<T> }>();

	constructor(private readonly readNow: (key: string) => Promise<T>) {}

	read(key: string): Promise<T> {
		let state = this.reads.get(key);
		if (!state) this.reads.set(key, (state = {}));
		if (state.waiting) return state.waiting;
		const { inFlight } = state;
		if (!inFlight) return this.send(key, state);
		const current = state;
		current.waiting = inFlight.then(() => {
			current.waiting = undefined;
			return this.send(key, current);
		});
		return current.waiting;
	}

	private send(key: string, state: { inFlight?: Promise<void> }): Promise<T> {
		const result = this.readNow(key);
		const settled: Promise<void> = result.then(
			() => this.settle(state, settled),
			() => this.settle(state, settled)
		);
		state.inFlight = settled;
		return result;
	}

	private settle(state: { inFlight?: Promise<void> }, read: Promise<void>): void {
		if (state.inFlight === read) state.inFlight = undefined;
	}
}
