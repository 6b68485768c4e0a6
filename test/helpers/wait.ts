/** Waits until `probe` returns a value that is not undefined/false, or fails with the last error. */
export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 5000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	let lastError: unknown;
	for (;;) {
		try {
			const value = await probe();
			if (value !== undefined && value !== false) return value as T;
		} catch (err) {
			lastError = err;
		}
		if (Date.now() > deadline)
			throw new Error(`condition not met within ${timeoutMs} ms${lastError ? `: ${(lastError as Error).message}` : ""}`);
		await new Promise(resolve => setTimeout(resolve, 20));
	}
}
