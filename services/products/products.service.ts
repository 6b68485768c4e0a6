/**
 * products: the catalog. Every change writes its `product.*` event to the outbox in the
 * same transaction; inventory learns about new and deleted products from those events.
 */
import { randomUUID } from "node:crypto";
import type { Context, Service } from "moleculer";
import { createDbMixin, type DbServiceThis } from "../../mixins/db.mixin";
import { createOutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { createCacheCleanerMixin } from "../../mixins/cache-cleaner.mixin";
import { createRememberedAnswersMixin } from "../../mixins/remembered-answers.mixin";
import { productsMigrations } from "./products.migrations";
import { buildEvent, originOf } from "../../contracts/events";
import { defineService } from "../../lib/schema";
import { GroupCommit } from "../../lib/group-commit";
import { cachedRead, idempotentCall, keyedWrite } from "../../lib/resilience";
import { keyedCallOf, onceForKey } from "../../lib/remembered-answers";
import type { IdempotencyMeta } from "../../lib/idempotency";
import { clearable, cursorPageParams, money, optional, queryFlag, text, uuid, pageOf, type Page, type PageQuery } from "../../lib/params";
import { toCents } from "../../contracts/money";
import { MAX_ON_HAND } from "../../contracts/stock";
import {
	applyChanges,
	DEFAULT_CURRENCY,
	DEFAULT_LOW_STOCK_THRESHOLD,
	generateSku,
	parseSort,
	toProduct,
	toSnapshot,
	type Product,
	type ProductChanges,
	type ProductRecord
} from "./products.domain";
import { ProductNotFoundError, ProductVersionConflictError } from "./products.errors";
import { PRODUCT, PRODUCT_PAGE } from "./products.schemas";
import {
	deleteProduct,
	findProduct,
	findProductPage,
	findProducts,
	insertProduct,
	keyOrderOf,
	updateProduct
} from "./products.repository";
import { windowOf } from "../../lib/keyset";
import { countProductChange, registerProductMetrics } from "./products.metrics";

const SKU = { type: "string", trim: true, pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/ } as const;

/** Description and category may be emptied with null; the other optional fields may only be left out. */
const editableFields = {
	name: text({ trim: true, min: 1, max: 200 }),
	price: money,
	sku: optional(SKU),
	description: clearable(text({ max: 2000 })),
	category: clearable(text({ trim: true, min: 1, max: 100 })),
	currency: optional({ type: "string", pattern: /^[A-Z]{3}$/ }),
	active: optional({ type: "boolean" })
} as const;

const count = { type: "number", integer: true, min: 0, max: MAX_ON_HAND } as const;

interface CreateParams {
	name: string;
	price: number;
	sku?: string;
	description?: string | null;
	category?: string | null;
	currency?: string;
	active?: boolean;
	stock?: number;
	lowStockThreshold?: number;
}

type UpdateParams = Partial<Omit<CreateParams, "stock" | "lowStockThreshold">> & { id: string; version?: number };

interface ListParams extends PageQuery {
	q?: string;
	category?: string;
	active?: boolean;
	sort?: string;
}

interface ProductsThis extends DbServiceThis, OutboxThis {
	productReads: GroupCommit<string[], Product[]>;
	changeProduct(ctx: Context<UpdateParams>, mode: "replace" | "merge"): Promise<Product>;
}
type This = Service & ProductsThis;

function changesFrom(params: UpdateParams): ProductChanges {
	return {
		sku: params.sku,
		name: params.name,
		description: params.description,
		category: params.category,
		priceCents: params.price === undefined ? undefined : toCents(params.price),
		currency: params.currency,
		active: params.active
	};
}

const ProductsService = defineService<This>({
	name: "products",
	mixins: [
		createDbMixin({ migrations: productsMigrations, table: "products" }),
		createOutboxMixin(),
		createCacheCleanerMixin(["products"]),
		createRememberedAnswersMixin()
	],
	settings: { rest: "/products" },

	actions: {
		/** A page of products, filtered by text, category and active flag, sorted by `sort`; by page number or by `cursor`. */
		list: {
			rest: "GET /",
			openapi: { summary: "List products", answers: PRODUCT_PAGE },
			...cachedRead(["page", "pageSize", "cursor", "q", "category", "active", "sort"], 3600, { staleFallback: true }),
			params: {
				...cursorPageParams,
				q: optional(text({ trim: true, min: 1, max: 100 })),
				category: optional(text({ trim: true, min: 1, max: 100 })),
				active: optional(queryFlag),
				sort: optional(text({ max: 100 }))
			},
			async handler(this: This, ctx: Context<ListParams>): Promise<Page<Product>> {
				const { q, category, active, sort } = ctx.params;
				const order = keyOrderOf(parseSort(sort));
				const { items, total, nextCursor } = await findProductPage(this.db, { q, category, active }, order, windowOf(ctx.params, order));
				return pageOf(ctx.params, items.map(toProduct), total, nextCursor);
			}
		},

		/** One product by id. */
		get: {
			rest: "GET /:id",
			openapi: { summary: "Get a product", answers: PRODUCT },
			...cachedRead(["id"], 3600, { staleFallback: true }),
			params: { id: uuid },
			async handler(this: This, ctx: Context<{ id: string }>): Promise<Product> {
				const record = await findProduct(this.db, ctx.params.id);
				if (!record) throw new ProductNotFoundError(ctx.params.id);
				return toProduct(record);
			}
		},

		/** Products by id for other services (purchases prices its items here); unknown ids are left out. */
		getMany: {
			visibility: "public",
			...idempotentCall,
			params: { ids: { type: "array", items: uuid, min: 1, max: 100 } },
			handler(this: This, ctx: Context<{ ids: string[] }>): Promise<Product[]> {
				// Read with the other calls waiting at the time, in one statement: every purchase asks.
				return this.productReads.add(ctx.params.ids);
			}
		},

		/** Creates a product; its `stock` and `lowStockThreshold` open its stock record through `product.created`. */
		create: {
			rest: "POST /",
			openapi: { summary: "Create a product", answers: PRODUCT },
			...keyedWrite,
			params: {
				...editableFields,
				stock: optional(count),
				lowStockThreshold: optional(count),
				$$strict: true
			},
			async handler(this: This, ctx: Context<CreateParams, IdempotencyMeta & { $statusCode?: number; $location?: string }>): Promise<Product> {
				const p = ctx.params;
				const now = new Date().toISOString();
				const record: ProductRecord = {
					id: randomUUID(),
					sku: p.sku ?? generateSku(p.name),
					name: p.name,
					description: p.description ?? null,
					category: p.category ?? null,
					priceCents: toCents(p.price)!,
					currency: p.currency ?? DEFAULT_CURRENCY,
					active: p.active ?? true,
					version: 1,
					createdAt: now,
					updatedAt: now
				};
				const event = buildEvent(
					"product.created",
					this.name,
					record.id,
					{
						product: toSnapshot(record),
						initialStock: p.stock ?? 0,
						lowStockThreshold: p.lowStockThreshold ?? DEFAULT_LOW_STOCK_THRESHOLD
					},
					originOf(ctx)
				);
				// A keyed call answered again from its first answer runs no work and is not counted again.
				let inserted = false;
				const created = await onceForKey(this.db, keyedCallOf(ctx), async tx => {
					await insertProduct(this.db, tx, record);
					await this.appendEvents(tx, [event]);
					inserted = true;
					return record;
				});
				if (inserted) countProductChange(this.broker, "created");
				await this.clearCache();
				ctx.meta.$statusCode = 201;
				ctx.meta.$location = `/products/${created.id}`;
				return toProduct(created);
			}
		},

		/** Replaces a product's editable fields; those left out return to their defaults (the sku is kept). */
		replace: {
			rest: "PUT /:id",
			openapi: { summary: "Replace a product", answers: PRODUCT },
			...keyedWrite,
			params: { id: uuid, ...editableFields, version: optional(count), $$strict: true },
			handler(this: This, ctx: Context<UpdateParams>): Promise<Product> {
				return this.changeProduct(ctx, "replace");
			}
		},

		/** Changes only the given fields of a product. */
		update: {
			rest: "PATCH /:id",
			openapi: { summary: "Update some fields of a product", answers: PRODUCT },
			...keyedWrite,
			params: {
				id: uuid,
				...Object.fromEntries(Object.entries(editableFields).map(([k, rule]) => [k, optional(rule)])),
				version: optional(count),
				$$strict: true
			},
			handler(this: This, ctx: Context<UpdateParams>): Promise<Product> {
				return this.changeProduct(ctx, "merge");
			}
		},

		/** Deletes a product; inventory drops its stock record on `product.deleted`. */
		remove: {
			rest: "DELETE /:id",
			openapi: { summary: "Delete a product" },
			...keyedWrite,
			params: { id: uuid },
			async handler(this: This, ctx: Context<{ id: string }, IdempotencyMeta & { $statusCode?: number }>): Promise<null> {
				const { id } = ctx.params;
				// A delete sent again with its key answers 204 again, not 404.
				let deleted = false;
				await onceForKey(this.db, keyedCallOf(ctx), async tx => {
					const sku = await deleteProduct(this.db, tx, id);
					if (sku === undefined) throw new ProductNotFoundError(id);
					await this.appendEvents(tx, [buildEvent("product.deleted", this.name, id, { productId: id, sku }, originOf(ctx))]);
					deleted = true;
					return null;
				});
				if (deleted) countProductChange(this.broker, "deleted");
				await this.clearCache();
				ctx.meta.$statusCode = 204;
				return null;
			}
		}
	},

	methods: {
		/** Applies a PUT (`replace`) or PATCH (`merge`) with its `product.updated` event; a `version` not current is a conflict. */
		async changeProduct(this: This, ctx: Context<UpdateParams>, mode: "replace" | "merge"): Promise<Product> {
			const { id, version } = ctx.params;
			let updated = false;
			const result = await onceForKey(this.db, keyedCallOf(ctx), async tx => {
				const current = await findProduct(this.db, id, tx);
				if (!current) throw new ProductNotFoundError(id);
				if (version !== undefined && version !== current.version) throw new ProductVersionConflictError(id, version, current.version);
				const { next, changed } = applyChanges(current, changesFrom(ctx.params), mode);
				if (changed.length === 0) return current;
				next.version = current.version + 1;
				next.updatedAt = new Date().toISOString();
				if (!(await updateProduct(this.db, tx, next, current.version)))
					throw new ProductVersionConflictError(id, current.version, current.version + 1);
				await this.appendEvents(tx, [buildEvent("product.updated", this.name, id, { product: toSnapshot(next), changed }, originOf(ctx))]);
				updated = true;
				return next;
			});
			if (updated) countProductChange(this.broker, "updated");
			await this.clearCache();
			return toProduct(result);
		}
	},

	created(this: This) {
		registerProductMetrics(this.broker);
		this.productReads = new GroupCommit(
			async requests => {
				const found = new Map((await findProducts(this.db, [...new Set(requests.flat())])).map(record => [record.id, toProduct(record)]));
				return requests.map(ids => [...new Set(ids)].flatMap(id => found.get(id) ?? []));
			},
			{ max: 50 }
		);
	}
});

export default ProductsService;
