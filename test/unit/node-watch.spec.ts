import { EventEmitter } from "node:events";
import type { ServiceBroker } from "moleculer";
import { NodeWatch } from "../../lib/node-watch";
import { waitFor } from "../helpers/wait";

/** The parts of a broker the watch uses, answering pings as `answer` says. */
function brokerLike(answer: (nodeID: string) => "pong" | "silent" | "late") {
	const localBus = new EventEmitter();
	const disconnected: string[] = [];
	const pings: string[] = [];
	const broker = {
		localBus,
		transit: { connected: true },
		isMetricsEnabled: () => false,
		logger: { warn: () => undefined },
		registry: { nodes: { get: () => ({ available: true }), disconnected: (id: string) => disconnected.push(id) } },
		ping(nodeID: string, timeout: number) {
			pings.push(nodeID);
			const how = answer(nodeID);
			return new Promise(resolve => {
				if (how === "pong") setTimeout(() => resolve({ nodeID }), 5);
				else if (how === "silent") setTimeout(() => resolve(null), timeout);
				// The pong arrives as the ping times out: handled after the timer, before judging.
				else
					setTimeout(() => {
						resolve(null);
						setImmediate(() => localBus.emit("$node.pong", { nodeID }));
					}, timeout);
			});
		}
	};
	return { broker: broker as unknown as ServiceBroker, disconnected, pings, state: broker };
}

describe("NodeWatch", () => {
	let watch: NodeWatch | undefined;
	afterEach(() => watch?.stop());

	it("takes out of the registry a node that has a call outstanding and answers no ping", async () => {
		const { broker, disconnected } = brokerLike(() => "silent");
		watch = new NodeWatch(broker);
		watch.start();
		watch.track("dead-1");
		await waitFor(() => disconnected.length > 0, 5000);
		expect(disconnected).toEqual(["dead-1"]);
	});

	it("leaves a slow node that answers its pings, and one whose pong came in with the timeout", async () => {
		for (const how of ["pong", "late"] as const) {
			const { broker, disconnected, pings } = brokerLike(() => how);
			watch = new NodeWatch(broker);
			watch.start();
			const done = watch.track("slow-1");
			await waitFor(() => pings.length >= 2, 5000);
			done();
			watch.stop();
			expect(disconnected).toEqual([]);
		}
	});

	it("pings no node whose calls all answer in time, and judges none while its own transporter is away", async () => {
		const quiet = brokerLike(() => "silent");
		watch = new NodeWatch(quiet.broker);
		watch.start();
		for (let i = 0; i < 20; i++) watch.track("fine-1")();
		const away = brokerLike(() => "silent");
		away.state.transit.connected = false;
		const other = new NodeWatch(away.broker);
		other.start();
		other.track("unknown-1");
		await waitFor(() => away.pings.length > 0, 5000);
		await new Promise(resolve => setTimeout(resolve, 900));
		other.stop();
		expect(quiet.pings).toEqual([]);
		expect(away.disconnected).toEqual([]);
	});
});
