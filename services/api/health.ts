/**
 * The gateway's liveness and readiness: ready means every service of the cluster has a
 * database that answers (lib/readiness.ts) and the gateway has every public route.
 */
import type { Context } from "moleculer";
import { ALL_SERVICES } from "../../config/env";
import { readiness, type Readiness } from "../../lib/readiness";
import { PUBLIC_SERVICES, type ApiThis } from "./gateway";

/** Services whose database readiness decides the gateway's readiness. */
const DATABASE_SERVICES = ALL_SERVICES.filter(name => name !== "api");

/**
 * Whether every public service has its REST routes. moleculer-web builds them 500 ms
 * after the registry changes; a node that is asked earlier builds them now.
 */
export function routesStatus(service: ApiThis): string {
	const still = missingRoutes(service);
	return still.length === 0 ? "up" : `missing: ${still.join(", ")}`;
}

/** The public services the gateway has no routes of yet (not started, or not running anywhere). */
export function missingRoutes(service: ApiThis): string[] {
	const missing = () => PUBLIC_SERVICES.filter(name => !service.aliases.some(alias => alias.action?.startsWith(`${name}.`)));
	if (missing().length > 0)
		for (const route of service.routes) if (route.opts.autoAliases) service.regenerateAutoAliases(route);
	return missing();
}

/** Liveness: the process answers. */
export function live() {
	return { status: "ok" };
}

/** Readiness of the cluster behind the gateway: 503 names the checks that fail, or says the node is draining. */
export async function ready(this: ApiThis, ctx: Context<unknown, { $statusCode?: number }>): Promise<Readiness> {
	const answer = await readiness(this.broker, DATABASE_SERVICES, { extra: { routes: routesStatus(this) } });
	if (answer.status !== "ready") ctx.meta.$statusCode = 503;
	return answer;
}
