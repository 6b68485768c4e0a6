/**
 * The arithmetic and the parsing of `ss` and /proc of scenario (u) (bench/connections.ts, bench/users-load.ts):
 * sockets counted per local port and state, limits and counters read from their text, KB per
 * connection, Little's law, and the phases and options of a run.
 */
import { establishedByLocalPort, kbPerConnection, listenQueueCountersOf, littlesLaw, openFilesLimitOf } from "../../bench/connections";
import { usersOptions, usersScript, usersTimes, type UsersPlan } from "../../bench/users-load";

// `ss -Htn state established`: Recv-Q, Send-Q, local, peer.
const SS = [
	"0      0      127.0.0.1:3000  127.0.0.1:50000",
	"0      0      127.0.0.1:3000  127.0.0.1:50001",
	"0      0      127.0.0.1:3001  127.0.0.1:50002",
	// the client's end of the first: its local port is the ephemeral one
	"0      0      127.0.0.1:50000 127.0.0.1:3000",
	"0      0      [::ffff:127.0.0.1]:3001 [::ffff:127.0.0.1]:50003",
	""
].join("\n");

describe("scenario (u)'s figures", () => {
	it("counts the connections whose local port is a gateway's, IPv4 and IPv6, not the clients' ends", () => {
		expect(establishedByLocalPort(SS, [3000, 3001, 3002])).toEqual({ 3000: 2, 3001: 2, 3002: 0 });
	});

	it("reads the soft open-files limit and the listen-queue counters from their /proc text", () => {
		const limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 20000                files\n";
		expect(openFilesLimitOf(limits)).toBe(1024);
		expect(openFilesLimitOf("Max open files            unlimited            unlimited            files\n")).toBe(Infinity);
		const netstat = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 3 17 19\nIpExt: InNoRoutes\nIpExt: 0\n";
		expect(listenQueueCountersOf(netstat)).toEqual({ overflows: 17, drops: 19 });
	});

	it("gives the memory a held connection costs and Little's law for a closed loop", () => {
		expect(kbPerConnection(100_000, 150_000, 5000)).toBe(10);
		expect(kbPerConnection(100_000, 150_000, 0)).toBeUndefined();
		// 10,000 connections answered at 20,000 req/s wait 500 ms each on average.
		expect(littlesLaw(10_000, 20_000, 450)).toEqual({ predictedMs: 500, ratio: 0.9 });
	});

	describe("a run's plan", () => {
		const plan: UsersPlan = {
			targets: ["http://127.0.0.1:3000", "http://127.0.0.1:3001"],
			connectionsPerTarget: 5000,
			headers: { "X-API-Key": "k" },
			paths: ["/a"],
			thinkMs: { min: 500, max: 1500 },
			holdMs: 4000,
			activeSeconds: 15,
			purchases: { pool: ["p"], share: 0.02, customerId: "c", keyPrefix: "u", stopBeforeEndSeconds: 3 },
			openFiles: 20_000
		};

		it("holds the connections, then sends, and stops purchasing before the end", () => {
			expect(usersTimes(plan, 1_000_000)).toEqual({ startedAt: 1_000_000, sendingAt: 1_004_000, purchasesUntil: 1_016_000, endsAt: 1_019_000 });
		});

		it("runs a wrk thread per gateway with all the connections for the hold and the sending time", () => {
			expect(usersOptions(plan)).toEqual(["-t2", "-c10000", "-d19s", "--timeout", "15s", "-H", "X-API-Key: k"]);
		});

		it("gives each run's purchases keys of their own", () => {
			expect(usersScript(plan, usersTimes(plan, 1000))).toContain('local KEY_PREFIX = "u-1000"');
			expect(usersScript(plan, usersTimes(plan, 2000))).toContain('local KEY_PREFIX = "u-2000"');
		});

		it("thinks between requests when paced and not in a closed loop", () => {
			const times = usersTimes(plan, 0);
			expect(usersScript(plan, times)).toContain("return math.random(500, 1500)");
			const closed = usersScript({ ...plan, thinkMs: undefined }, times);
			expect(closed).not.toContain("math.random(500, 1500)");
			expect(closed).toMatch(/\n {2}return 0\n/);
		});
	});
});
