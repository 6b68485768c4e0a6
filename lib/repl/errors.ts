/** A failed call, as one line an operator can act on: the message and the fields at fault, never a stack. */

/** Input the command itself refuses (an unknown service, a bad option): its message is the whole story. */
export class ReplInputError extends Error {}

interface CallError {
	message?: string;
	type?: string;
	data?: unknown;
}

function fieldsAtFault(data: unknown): string[] {
	if (!Array.isArray(data)) return [];
	return data.map(entry => {
		const { field, message } = (entry ?? {}) as { field?: string; message?: string };
		return field && message && !message.includes(field) ? `${field}: ${message}` : String(message ?? field ?? entry);
	});
}

export function describeError(err: unknown): string {
	const { message, type, data } = (err ?? {}) as CallError;
	const action = (data as { action?: string } | undefined)?.action;
	if (type === "SERVICE_NOT_FOUND" || type === "SERVICE_NOT_AVAILABLE")
		return `${action ? `${action.split(".")[0]} is` : "The service is"} not running in this cluster (no node offers ${action ?? "the action"}).`;
	const fields = fieldsAtFault(data);
	if (type === "VALIDATION_ERROR" && fields.length > 0) return `Invalid input: ${fields.map(f => f.replace(/\.$/, "")).join("; ")}.`;
	return message ?? String(err);
}
