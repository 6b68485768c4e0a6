/** Plain text for the operators' REPL commands: aligned tables and ages, no colours (output that is copied and read in logs). */

export type Cell = string | number | boolean | null | undefined;

function text(cell: Cell): string {
	if (cell === null || cell === undefined) return "-";
	return String(cell);
}

/** Columns padded to their widest cell, a rule under the header; `right` lists the columns aligned right (numbers). */
export function table(headers: string[], rows: Cell[][], right: number[] = []): string {
	const cells = [headers, ...rows.map(row => row.map(text))];
	const widths = headers.map((_, column) => Math.max(...cells.map(row => (row[column] ?? "").length)));
	const line = (row: string[]) =>
		row
			.map((cell, column) => (right.includes(column) ? cell.padStart(widths[column]) : cell.padEnd(widths[column])))
			.join("  ")
			.trimEnd();
	return [line(cells[0]), widths.map(w => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}

/** Label and value pairs, one a line, the values aligned. */
export function fields(pairs: [string, Cell][]): string {
	const width = Math.max(...pairs.map(([label]) => label.length));
	return pairs.map(([label, value]) => `  ${label.padEnd(width)}  ${text(value)}`).join("\n");
}

/** How long ago `iso` was, as an operator says it: 42 s, 7 min, 3 h, 2 d. */
export function age(iso: string | null, now = Date.now()): string {
	if (!iso) return "-";
	const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
	if (seconds < 120) return `${seconds} s`;
	if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
	if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
	return `${Math.round(seconds / 86_400)} d`;
}

/** "1 item", "3 items" ("1 entry", "2 entries" with the plural given). */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
	return `${count} ${count === 1 ? noun : nouns}`;
}
