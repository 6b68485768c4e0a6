/** A probe's answers that mean "not yet": anything falsy. */
type NotYet = undefined | null | false | 0 | "";

/**
 * How long a test waits for what follows a call (an event handled, a purchase expired):
 * generous, because the machine may be slow; a test never passes or fails by speed.
 */
export const SETTLE_MS = 15_000;

/** Waits until `probe` returns a truthy value and returns it, or fails with the last error. */
export async function waitFor<T>(probe: () => Promise<T | NotYet> | T | NotYet, timeoutMs = SETTLE_MS): Promise<T> {
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
