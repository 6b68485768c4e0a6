/** Pure rules of the catalog: sku generation, sorting, and how an update changes a product. */
import { randomBytes } from "node:crypto";
import { fromCents } from "../../contracts/money";
import type { ProductSnapshot } from "../../contracts/events";
import { InvalidSortError } from "./products.errors";

export const DEFAULT_CURRENCY = "EUR";
export const DEFAULT_LOW_STOCK_THRESHOLD = 5;

/** A product as stored (prices in cents). */
export interface ProductRecord {
	id: string;
	sku: string;
	name: string;
	description: string | null;
	category: string | null;
	priceCents: number;
	currency: string;
	active: boolean;
	version: number;
	createdAt: string;
	updatedAt: string;
}

/** A product as the API shows it. */
export interface Product extends ProductSnapshot {
	createdAt: string;
	updatedAt: string;
}

export function toProduct(record: ProductRecord): Product {
	return {
		id: record.id,
		sku: record.sku,
		name: record.name,
		description: record.description,
		category: record.category,
		price: fromCents(record.priceCents),
		currency: record.currency,
		active: record.active,
		version: record.version,
		createdAt: record.createdAt,
		updatedAt: record.updatedAt
	};
}

export function toSnapshot(record: ProductRecord): ProductSnapshot {
	const { createdAt: _c, updatedAt: _u, ...snapshot } = toProduct(record);
	return snapshot;
}

const ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/** A readable sku from the name plus a random suffix: "Blue Mug" -> "BLUE-MUG-7KQ2XH". */
export function generateSku(name: string, random: (n: number) => Buffer = randomBytes): string {
	const stem = name
		.normalize("NFKD")
		.replace(/[\u0300-\u036f]/g, "")
		.replace(/[^A-Za-z0-9]+/g, "-")
		.replace(/^-+|-+$/g, "")
		.toUpperCase()
		.slice(0, 24)
		.replace(/-+$/, "");
	const suffix = Array.from(random(6), byte => ALPHABET[byte % ALPHABET.length]).join("");
	return stem ? `${stem}-${suffix}` : `SKU-${suffix}`;
}

const SORTABLE = {
	name: "name",
	sku: "sku",
	price: "priceCents",
	createdAt: "createdAt",
	updatedAt: "updatedAt"
} as const;

export type SortOrder = [attribute: string, direction: "ASC" | "DESC"][];

/** Parses `name,-price` into an order; the id comes last so pages never overlap. */
export function parseSort(sort: string | undefined): SortOrder {
	const order: SortOrder = [];
	for (const term of (sort ?? "-createdAt").split(",").map(s => s.trim()).filter(Boolean)) {
		const descending = term.startsWith("-");
		const key = descending ? term.slice(1) : term;
		if (!Object.hasOwn(SORTABLE, key)) throw new InvalidSortError(Object.keys(SORTABLE), key);
		const attribute = SORTABLE[key as keyof typeof SORTABLE];
		order.push([attribute, descending ? "DESC" : "ASC"]);
	}
	order.push(["id", "ASC"]);
	return order;
}

export interface ProductChanges {
	sku?: string;
	name?: string;
	description?: string | null;
	category?: string | null;
	priceCents?: number;
	currency?: string;
	active?: boolean;
}

/**
 * Applies a PUT (`replace`: fields left out go back to their defaults, the sku is kept)
 * or a PATCH (`merge`: only the given fields change); returns the changed field names.
 */
export function applyChanges(
	current: ProductRecord,
	changes: ProductChanges,
	mode: "replace" | "merge"
): { next: ProductRecord; changed: string[] } {
	const given = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
	const desired: ProductChanges =
		mode === "replace" ? { description: null, category: null, active: true, ...given } : given;
	const next = { ...current };
	const changed: string[] = [];
	for (const [key, value] of Object.entries(desired) as [keyof ProductChanges, never][]) {
		if (value === undefined || next[key] === value) continue;
		next[key] = value;
		changed.push(key === "priceCents" ? "price" : key);
	}
	return { next, changed };
}
