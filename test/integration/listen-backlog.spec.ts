/**
 * The gateway's HTTP server queues thousands of connections the kernel completed before
 * the gateway accepts them (guardServer's LISTEN_BACKLOG, capped by net.core.somaxconn),
 * not Node's 511: read from the kernel with `ss`, on a server listening before it is
 * guarded (as moleculer-web's is) and on one guarded before it listens.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { LISTEN_BACKLOG, guardServer } from "../../services/api/http-guard";
import { requiredTool } from "../helpers/tools";

const ss = requiredTool(["ss"], "apt-get install -y --no-install-recommends iproute2");

/** The accept-queue length of the socket listening on `port`: Send-Q of `ss -ltn`. */
function acceptQueue(port: number): number {
	const out = spawnSync("ss", ["-ltnH", `sport = :${port}`], { encoding: "utf8" }).stdout.trim();
	return Number(out.split(/\s+/)[2]);
}

const listen = (server: Server) => new Promise<number>(resolve => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
const close = (server: Server) => new Promise(resolve => server.close(resolve));

(ss ? describe : describe.skip)("the gateway's listen backlog", () => {
	const expected = Math.min(LISTEN_BACKLOG, Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8")));

	it("is raised on a server that was already listening with Node's default", async () => {
		const server = createServer();
		const port = await listen(server);
		expect(acceptQueue(port)).toBe(511);
		guardServer(server);
		expect(acceptQueue(port)).toBe(expected);
		expect(expected).toBeGreaterThan(511);
		await close(server);
	});

	it("is set on a server guarded before it listens", async () => {
		const server = createServer();
		guardServer(server);
		const port = await listen(server);
		expect(acceptQueue(port)).toBe(expected);
		await close(server);
	});
});
