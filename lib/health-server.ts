/**
 * A node's own health port (HEALTH_PORT), for the probes of a container platform: a node
 * that runs no gateway has no HTTP server otherwise. `/health/live` answers while the
 * process runs; `/health/ready` is 200 once the node's services have started and their
 * databases, the transporter and Kafka answer, 503 while starting, draining or when one
 * does not (lib/readiness.ts). Nothing else is served.
 */
import { createServer, type Server } from "node:http";
import type { ServiceBroker } from "moleculer";
import { readiness } from "./readiness";

/** Listens on `port` (all interfaces: probes come from outside the container) and answers for `broker`. */
export function startHealthServer(broker: ServiceBroker, port: number, services: string[]): Promise<Server> {
	const databaseServices = services.filter(name => name !== "api");
	const server = createServer((req, res) => {
		const send = (status: number, body: unknown) => {
			res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" });
			res.end(JSON.stringify(body));
		};
		const path = (req.url ?? "").split("?")[0];
		if (req.method !== "GET" && req.method !== "HEAD") return send(405, { status: "method not allowed" });
		if (path === "/health/live") return send(200, { status: "ok" });
		if (path !== "/health/ready") return send(404, { status: "not found" });
		if (!(broker as unknown as { started: boolean }).started) return send(503, { status: "starting", checks: {} });
		readiness(broker, databaseServices, { local: true }).then(
			answer => send(answer.status === "ready" ? 200 : 503, answer),
			err => send(503, { status: "unavailable", checks: { node: (err as Error).message } })
		);
	});
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(port, "0.0.0.0", () => resolve(server));
	});
}
