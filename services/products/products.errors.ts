import { ConflictError, NotFoundError, UnprocessableError } from "../../contracts/errors";

export class ProductNotFoundError extends NotFoundError {
	constructor(id: string) {
		super(`Product ${id} was not found.`, "PRODUCT_NOT_FOUND", { id });
	}
}

export class DuplicateSkuError extends ConflictError {
	constructor(sku: string) {
		super(`A product with sku "${sku}" already exists.`, "DUPLICATE_SKU", { sku });
	}
}

export class ProductVersionConflictError extends ConflictError {
	constructor(id: string, expected: number, actual: number) {
		super(
			`Product ${id} is at version ${actual}, not ${expected}: it was changed meanwhile.`,
			"VERSION_CONFLICT",
			{ id, expected, actual }
		);
	}
}

export class InvalidSortError extends UnprocessableError {
	constructor(allowed: string[], given: string) {
		super([{ field: "sort", message: `Cannot sort by "${given}"; use ${allowed.join(", ")}, each optionally prefixed with "-".`, type: "sort" }]);
	}
}
