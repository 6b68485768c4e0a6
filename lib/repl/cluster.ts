/** What the REPL asks of the cluster as a whole: which services offer an action, on which nodes, and their metrics. */
import type { ServiceBroker } from "moleculer";

interface ActionListing {
	name: string;
	available?: boolean;
	endpoints?: { nodeID: string; available?: boolean }[];
}

/** The services that offer `<service>.<action>` now, each with the nodes it runs on, by service name. */
export async function servicesOffering(broker: ServiceBroker, action: string): Promise<{ service: string; nodes: string[] }[]> {
	const actions = (await broker.call("$node.actions", { onlyAvailable: true, skipInternal: true, withEndpoints: true })) as ActionListing[];
	return actions
		.filter(a => a.name.endsWith(`.${action}`))
		.map(a => ({ service: a.name.slice(0, -action.length - 1), nodes: (a.endpoints ?? []).filter(e => e.available !== false).map(e => e.nodeID).sort() }))
		.sort((a, b) => a.service.localeCompare(b.service));
}

/** The names of the services running in the cluster (Moleculer's own `$node` left out). */
export async function runningServices(broker: ServiceBroker): Promise<string[]> {
	const services = (await broker.call("$node.services", { onlyAvailable: true, skipInternal: true })) as { name: string }[];
	return [...new Set(services.map(s => s.name))].sort();
}

export interface MetricValue {
	labels: Record<string, string>;
	value: number;
}

/**
 * One metric's values on every node that is up, by node: what each node's `/metrics` would
 * show. A node whose metrics are off answers with an error, given as a string.
 */
export async function metricOnEveryNode(broker: ServiceBroker, metric: string): Promise<Map<string, MetricValue[] | string>> {
	const nodes = ((await broker.call("$node.list", { onlyAvailable: true })) as { id: string }[]).map(n => n.id).sort();
	const answers = await Promise.all(
		nodes.map(async (nodeID): Promise<[string, MetricValue[] | string]> => {
			try {
				const list = (await broker.call("$node.metrics", { includes: metric }, { nodeID })) as { name: string; values: MetricValue[] }[];
				return [nodeID, list.find(m => m.name === metric)?.values ?? []];
			} catch (err) {
				return [nodeID, (err as Error).message];
			}
		})
	);
	return new Map(answers);
}
