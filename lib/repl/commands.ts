/**
 * The operators' commands of Moleculer's REPL (`npm run repl`, or any node started with
 * `--repl`). Each asks the cluster through actions, so a node that runs only the gateway
 * answers them as well as one that runs everything, and prints plain lines and tables.
 * A failure prints one line saying what went wrong, never a stack.
 */
import type { ReplOptions, ServiceBroker } from "moleculer";
import { kafkaEnabled } from "../kafka";
import type { OutboxBacklog, ParkedEvent } from "../outbox-status";
import type { Page } from "../params";
import { metricOnEveryNode, runningServices, servicesOffering } from "./cluster";
import { deadLetterCounts } from "./dead-letters";
import { ReplInputError, describeError } from "./errors";
import { age, fields, plural, table, type Cell } from "./render";

type ReplCommand = NonNullable<ReplOptions["customCommands"]>[number];

/** What moleculer-repl hands a command: its named arguments (`<productId>`) and options. */
type Args = Record<string, string | undefined> & { options?: Record<string, unknown> };

interface Command {
	command: string;
	description: string;
	options?: { option: string; description: string }[];
	run(broker: ServiceBroker, args: Args): Promise<string>;
}

// The answers as these commands read them (the owning services define the full shapes).
interface StockView {
	productId: string;
	onHand: number;
	reserved: number;
	available: number;
	lowStockThreshold: number;
	lowStock: boolean;
	updatedAt: string;
}
interface ProductView {
	id: string;
	sku: string;
	name: string;
	active: boolean;
}
interface PurchaseView {
	id: string;
	status: string;
	items: { productId: string; sku: string; name: string; quantity: number; unitPrice: number; lineTotal: number }[];
	total: number;
	currency: string;
	customerId?: string | null;
	expiresAt: string;
	cancelReason?: string | null;
	createdAt: string;
	confirmedAt?: string | null;
	completedAt?: string | null;
	cancelledAt?: string | null;
}
interface ReservationView {
	id: string;
	status: string;
	items: { productId: string; quantity: number }[];
	createdAt: string;
	updatedAt: string;
}
interface SweepResult {
	expired: number;
	repaired: number;
	orphansReleased: number;
}

/** The most low-stock products listed (pages of 100); past that the command says how many more there are. */
const LOW_STOCK_LIMIT = 500;
const PARKED_SHOWN = 20;

/** Products by id, for names next to stock figures; an unreachable catalog leaves the names out. */
async function productsById(broker: ServiceBroker, ids: string[]): Promise<Map<string, ProductView>> {
	const found = new Map<string, ProductView>();
	for (let i = 0; i < ids.length; i += 100) {
		const products = (await broker.call("products.getMany", { ids: ids.slice(i, i + 100) }).catch(() => [])) as ProductView[];
		for (const product of products) found.set(product.id, product);
	}
	return found;
}

const stock: Command = {
	command: "stock <productId>",
	description: "A product's stock: on hand, reserved, available and its low-stock threshold",
	async run(broker, { productId }) {
		const record = (await broker.call("inventory.get", { productId })) as StockView;
		const product = (await productsById(broker, [record.productId])).get(record.productId);
		return [
			`Stock of ${product ? `${product.name} (${product.sku})` : "product"} ${record.productId}`,
			fields([
				["on hand", record.onHand],
				["reserved", record.reserved],
				["available", record.available],
				["threshold", `${record.lowStockThreshold}${record.lowStock ? " (LOW STOCK)" : ""}`],
				["updated", record.updatedAt]
			])
		].join("\n");
	}
};

const lowStock: Command = {
	command: "low-stock",
	description: "Products whose available stock is at or below their threshold, least available first",
	async run(broker) {
		const low: StockView[] = [];
		let total = 0;
		for (let page = 1; low.length < LOW_STOCK_LIMIT; page++) {
			const answer = (await broker.call("inventory.list", { lowStock: true, page, pageSize: 100 })) as Page<StockView>;
			low.push(...answer.items);
			// A page asked for by number always carries its total.
			total = answer.total ?? low.length;
			if (answer.items.length < 100 || low.length >= total) break;
		}
		if (low.length === 0) return "No product is low on stock.";
		low.sort((a, b) => a.available - b.available || a.productId.localeCompare(b.productId));
		const products = await productsById(broker, low.map(s => s.productId));
		const rows = low.map(s => [s.productId, products.get(s.productId)?.sku, products.get(s.productId)?.name, s.onHand, s.reserved, s.available, s.lowStockThreshold]);
		return [
			`${plural(total, "product")} low on stock${total > low.length ? ` (the ${low.length} least available shown)` : ""}:`,
			table(["product", "sku", "name", "on hand", "reserved", "available", "threshold"], rows, [3, 4, 5, 6])
		].join("\n");
	}
};

const purchase: Command = {
	command: "purchase <id>",
	description: "A purchase, its items, and inventory's reservation for it",
	async run(broker, { id }) {
		const found = (await broker.call("purchases.get", { id })) as PurchaseView;
		const reservation = (await broker.call("inventory.reservation", { reservationId: found.id }).catch((err: { type?: string }) => {
			if (err?.type === "RESERVATION_NOT_FOUND") return null;
			throw err;
		})) as ReservationView | null;
		const lines = [
			`Purchase ${found.id}`,
			fields([
				["status", found.status + (found.cancelReason ? ` (${found.cancelReason})` : "")],
				["total", `${found.total} ${found.currency}`],
				["customer", found.customerId],
				["created", found.createdAt],
				["expires", found.status === "PENDING" ? found.expiresAt : null],
				["confirmed", found.confirmedAt],
				["completed", found.completedAt],
				["cancelled", found.cancelledAt]
			]),
			table(
				["product", "sku", "name", "quantity", "unit price", "line total"],
				found.items.map(i => [i.productId, i.sku, i.name, i.quantity, i.unitPrice, i.lineTotal]),
				[3, 4, 5]
			)
		];
		if (!reservation) lines.push("Reservation: none in inventory (nothing is held for it).");
		else
			lines.push(
				`Reservation ${reservation.id}: ${reservation.status} (made ${reservation.createdAt}, last changed ${reservation.updatedAt})`,
				table(["product", "quantity"], reservation.items.map(i => [i.productId, i.quantity]), [1])
			);
		return lines.join("\n");
	}
};

const outbox: Command = {
	command: "outbox",
	description: "Events waiting in each service's outbox, the oldest one's age, and the parked ones",
	async run(broker) {
		const services = await servicesOffering(broker, "outboxStatus");
		if (services.length === 0) return "No service with an outbox is running.";
		const rows: Cell[][] = [];
		for (const { service, nodes } of services) {
			const status = (await broker.call(`${service}.outboxStatus`).catch(err => describeError(err))) as OutboxBacklog | string;
			if (typeof status === "string") rows.push([service, nodes.join(","), status]);
			else rows.push([service, nodes.join(","), status.pending, age(status.oldestPendingAt), status.parked]);
		}
		return table(["service", "nodes", "pending", "oldest", "parked"], rows, [2, 4]);
	}
};

const parked: Command = {
	command: "parked",
	description: "Outbox events the relays gave up on, and dead letters per consumer (and on the .dlq topics with Kafka)",
	async run(broker) {
		const lines: string[] = [];
		const events: Cell[][] = [];
		for (const { service } of await servicesOffering(broker, "parkedEvents")) {
			const found = (await broker.call(`${service}.parkedEvents`, { limit: PARKED_SHOWN })) as ParkedEvent[];
			for (const e of found) events.push([service, e.id, e.type, e.aggregateId, e.attempts, e.parkedAt, (e.lastError ?? "").slice(0, 80)]);
		}
		if (events.length === 0) lines.push("Parked outbox events: none.");
		else lines.push("Parked outbox events (newest first):", table(["service", "event", "type", "aggregate", "attempts", "parked at", "last error"], events, [4]));

		const counts = new Map<string, number>();
		const silent: string[] = [];
		for (const [node, values] of await metricOnEveryNode(broker, "events_parked_total")) {
			if (typeof values === "string") silent.push(`${node} (${values})`);
			else for (const { labels, value } of values) counts.set(labels.consumer, (counts.get(labels.consumer) ?? 0) + value);
		}
		lines.push(
			"",
			"Dead letters per consumer (events_parked_total, since each node started):",
			counts.size === 0 ? "  no consumer reports any" : table(["consumer", "parked"], [...counts].sort(([a], [b]) => a.localeCompare(b)), [1])
		);
		if (silent.length > 0) lines.push(`  not counted on: ${silent.join(", ")}`);
		if (kafkaEnabled(broker)) lines.push("", "Messages on the dead-letter topics:", table(["topic", "messages"], (await deadLetterCounts(broker)).map(d => [d.topic, d.messages]), [1]));
		return lines.join("\n");
	}
};

const sweep: Command = {
	command: "sweep",
	description: "Run the purchases sweeper now: expire overdue purchases, repair stuck creations, release orphan reservations",
	options: [{ option: "-g, --grace <seconds>", description: "repair creations stuck for longer than this (default 15)" }],
	async run(broker, args) {
		const grace = args.options?.grace;
		const params: { reservingGraceMs?: number } = {};
		if (grace !== undefined) {
			const seconds = Number(grace);
			if (!Number.isInteger(seconds) || seconds < 0) throw new ReplInputError(`--grace must be a whole number of seconds, not "${String(grace)}".`);
			params.reservingGraceMs = seconds * 1000;
		}
		const result = (await broker.call("purchases.sweep", params)) as SweepResult;
		return `Swept: ${plural(result.expired, "overdue purchase")} expired, ${plural(result.repaired, "stuck creation")} repaired, ${plural(result.orphansReleased, "orphan reservation")} released.`;
	}
};

const cacheClean: Command = {
	command: "cache-clean <service>",
	description: "Clean a service's cached answers: the shared cache, every node's copy and the gateways' near caches",
	async run(broker, { service }) {
		const name = String(service ?? "");
		const running = await runningServices(broker);
		if (!running.includes(name)) throw new ReplInputError(`unknown service "${name}"; running: ${running.join(", ")}.`);
		const cacher = broker.cacher;
		if (!cacher) return "This node has no cacher: nothing to clean.";
		const keys = (await cacher.getCacheKeys().catch(() => [])).filter(({ key }) => key.startsWith(`${name}.`)).length;
		// As moleculer-db's clearCache does: this node's cacher (the shared one with Redis, which moves the
		// service's version on, outdating every near cache), and a broadcast for per-node caches elsewhere.
		await cacher.clean(`${name}.**`);
		await broker.broadcast(`cache.clean.${name}`);
		return `Cleaned the cache of ${name}: ${plural(keys, "entry", "entries")} removed here (${cacher.constructor.name}); every node was told to drop its copies (cache.clean.${name}).`;
	}
};

export const OPERATOR_COMMANDS: Command[] = [stock, lowStock, purchase, outbox, parked, sweep, cacheClean];

/** The commands as moleculer-repl takes them (broker option `replOptions.customCommands`). */
export function replCommands(): ReplCommand[] {
	return OPERATOR_COMMANDS.map(({ command, description, options, run }) => ({
		command,
		description,
		options,
		async action(broker: ServiceBroker, args: unknown) {
			let output: string;
			try {
				output = await run(broker, (args ?? {}) as Args);
			} catch (err) {
				output = `Error: ${describeError(err)}`;
			}
			process.stdout.write(`${output}\n`);
		}
	})) as unknown as ReplCommand[];
}
