/** A probe's answers that mean "not yet": anything falsy. */
type NotYet = undefined | null | false | 0 | "";

/** Waits until `probe` returns a truthy value and returns it, or fails with the last error. */
export async function waitFor<T>(probe: () => Promise<T | NotYet> | T | NotYet, timeoutMs = 5000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	let lastError: unknown;
	for (;;) {
		try {
			const value = await probe();
			if (value) return value as T;
		} catch (err) {
			lastError = err;
		}
		if (Date.now() > deadline)
			throw new Error(`condition not met within ${timeoutMs} ms${lastError ? `: ${(lastError as Error).message}` : ""}`);
		await new Promise(resolve => setTimeout(resolve, 20));
	}
}
