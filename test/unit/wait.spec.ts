import { waitFor } from "../helpers/wait";

describe("waitFor", () => {
	it.each([[0], [""], [null], [false], [undefined]])("keeps waiting while the probe answers %p", async notYet => {
		let calls = 0;
		await expect(waitFor(() => (++calls < 3 ? notYet : "ready"), 2000)).resolves.toBe("ready");
		expect(calls).toBe(3);
	});

	it("fails with the probe's last error once the time is up", async () => {
		await expect(
			waitFor(() => {
				throw new Error("engine away");
			}, 50)
		).rejects.toThrow(/condition not met within 50 ms: engine away/);
	});
});
