/**
 * Notices a dead node within about a second instead of at the heartbeat timeout. NATS
 * tells no client when another's connection drops, and calls sent to a dead node just
 * wait. So a node that has a call outstanding for a while is pinged; when no pong comes,
 * it is taken out of the registry the way a missed heartbeat does it: its calls still
 * waiting are rejected at once (the failover middleware sends those that are safe to
 * another node) and no new call goes there. A live node, however busy, answers a ping
 * from its transporter's handler, and a node taken out wrongly comes back with its next
 * heartbeat.
 */
import type { ServiceBroker } from "moleculer";
import { countMetric, registerMetrics, startAtZero } from "./metrics";

/** A call outstanding this long makes its node worth a ping. */
const SUSPECT_AFTER_MS = 300;
/** How long a pong may take before the node counts as gone. */
const PING_TIMEOUT_MS = 700;
const CHECK_EVERY_MS = 100;

interface Watched {
	/** When each outstanding call to the node was sent, by an id of the call. */
	outstanding: Map<number, number>;
	lastPong: number;
	pinging: boolean;
}

interface Registry {
	nodes: { get(id: string): { available: boolean } | undefined; disconnected(id: string, unexpected: boolean): void };
}

export class NodeWatch {
	private readonly nodes = new Map<string, Watched>();
	private timer?: NodeJS.Timeout;
	private nextCall = 0;
	private readonly onPong = ({ nodeID }: { nodeID: string }) => {
		const node = this.nodes.get(nodeID);
		if (node) node.lastPong = Date.now();
	};

	constructor(private readonly broker: ServiceBroker) {
		registerMetrics(broker, [
			{ name: "node_watch_nodes_removed_total", type: "counter", description: "Nodes taken out of the registry because they answered no ping while calls to them were outstanding" }
		]);
		startAtZero(broker, "node_watch_nodes_removed_total");
	}

	/** Notes a call sent to `nodeID`; the function returned notes its end. */
	track(nodeID: string): () => void {
		let node = this.nodes.get(nodeID);
		if (!node) this.nodes.set(nodeID, (node = { outstanding: new Map(), lastPong: 0, pinging: false }));
		const id = this.nextCall++;
		node.outstanding.set(id, Date.now());
		return () => void node.outstanding.delete(id);
	}

	start(): void {
		this.broker.localBus.on("$node.pong", this.onPong);
		this.timer = setInterval(() => this.check(), CHECK_EVERY_MS);
		this.timer.unref();
	}

	stop(): void {
		clearInterval(this.timer);
		this.broker.localBus.off("$node.pong", this.onPong);
	}

	private connected(): boolean {
		return (this.broker as unknown as { transit?: { connected: boolean } }).transit?.connected === true;
	}

	private check(): void {
		const now = Date.now();
		for (const [nodeID, node] of this.nodes) {
			if (node.outstanding.size === 0) {
				this.nodes.delete(nodeID);
				continue;
			}
			const oldest = Math.min(...node.outstanding.values());
			if (node.pinging || now - oldest < SUSPECT_AFTER_MS || now - node.lastPong < SUSPECT_AFTER_MS) continue;
			node.pinging = true;
			void this.probe(nodeID, node).finally(() => (node.pinging = false));
		}
	}

	/** Pings the node; without a pong in time it is disconnected. */
	private async probe(nodeID: string, node: Watched): Promise<void> {
		const sent = Date.now();
		const pong = await this.broker.ping(nodeID, PING_TIMEOUT_MS);
		// Without a transporter no ping gets anywhere: that says nothing of the other node.
		if (pong || !this.connected()) return;
		// The timer may have fired before a pong already read off the socket was handled
		// (this process was busy): give pending I/O its turn before judging.
		await new Promise(resolve => setImmediate(resolve));
		if (node.lastPong >= sent) return;
		const registry = (this.broker as unknown as { registry: Registry }).registry;
		if (!registry.nodes.get(nodeID)?.available) return;
		this.broker.logger.warn(`Node '${nodeID}' did not answer a ping within ${PING_TIMEOUT_MS} ms with calls outstanding: taken out of the registry.`);
		registry.nodes.disconnected(nodeID, true);
		countMetric(this.broker, "node_watch_nodes_removed_total");
	}
}
