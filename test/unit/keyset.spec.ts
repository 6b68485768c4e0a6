import { afterCondition, cursorAfter, pageWithNext, readCursor, windowOf, type KeyOrder } from "../../lib/keyset";

const ORDER: KeyOrder = [
	{ attribute: "createdAt", column: "created_at", direction: "DESC", kind: "timestamp" },
	{ attribute: "priceCents", column: "price_cents", direction: "ASC", kind: "integer" },
	{ attribute: "id", column: "id", direction: "ASC", kind: "uuid" }
];
const item = { createdAt: "2026-12-01T10:00:00.000Z", priceCents: 250, id: "0b6f8f3c-5d3e-4b7a-9d59-2f2b6c1e9a10", name: "x" };

describe("keyset pages", () => {
	it("reads back the key values a cursor was made from", () => {
		expect(readCursor(ORDER, cursorAfter(ORDER, item))).toEqual([item.createdAt, 250, item.id]);
	});

	it("puts the row's key after a bound on the first column alone, each column in its own direction", () => {
		const { sql, replacements } = afterCondition(ORDER, [item.createdAt, 250, item.id]);
		expect(sql).toBe(
			"created_at <= :after0 AND ((created_at < :after0) OR (created_at = :after0 AND price_cents > :after1) OR (created_at = :after0 AND price_cents = :after1 AND id > :after2))"
		);
		expect(replacements).toEqual({ after0: item.createdAt, after1: 250, after2: item.id });
	});

	it.each([
		["not base64url JSON", "%%%"],
		["JSON that is not a cursor", Buffer.from("[1,2]").toString("base64url")],
		["another sort's cursor", cursorAfter(ORDER.slice(1), item)],
		["a value of the wrong kind", Buffer.from(JSON.stringify({ s: "createdAt:DESC,priceCents:ASC,id:ASC", v: [item.createdAt, "250", item.id] })).toString("base64url")],
		["too few values", Buffer.from(JSON.stringify({ s: "createdAt:DESC,priceCents:ASC,id:ASC", v: [item.createdAt] })).toString("base64url")],
		["a time that is not one", Buffer.from(JSON.stringify({ s: "createdAt:DESC,priceCents:ASC,id:ASC", v: ["2026-13-45T99:00:00Z", 1, item.id] })).toString("base64url")]
	])("refuses %s with 400 INVALID_CURSOR", (_what, cursor) => {
		expect(() => readCursor(ORDER, cursor)).toThrow(expect.objectContaining({ code: 400, type: "INVALID_CURSOR" }));
	});

	it("gives a next cursor only when a row more than the page was fetched", () => {
		const rows = [item, { ...item, priceCents: 300 }, { ...item, priceCents: 400 }];
		const full = pageWithNext(ORDER, rows, 2);
		expect(full.items).toEqual(rows.slice(0, 2));
		expect(readCursor(ORDER, full.nextCursor!)).toEqual([item.createdAt, 300, item.id]);
		expect(pageWithNext(ORDER, rows, 3).nextCursor).toBeNull();
	});

	it("starts a page by number at its offset, by cursor after its key, and refuses both at once with 422", () => {
		expect(windowOf({ page: 3, pageSize: 20 }, ORDER)).toEqual({ limit: 20, offset: 40 });
		const cursor = cursorAfter(ORDER, item);
		expect(windowOf({ page: 1, pageSize: 20, cursor }, ORDER)).toEqual({ limit: 20, offset: 0, after: [item.createdAt, 250, item.id] });
		expect(() => windowOf({ page: 2, pageSize: 20, cursor }, ORDER)).toThrow(expect.objectContaining({ code: 422 }));
	});
});
