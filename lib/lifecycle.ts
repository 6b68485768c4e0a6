/**
 * The parts of a service that run on its database besides its actions, and the one order
 * they start and stop in. They start once the database is migrated, stores first; while
 * the node stops they stop in reverse, all before the database closes:
 *
 * 1. consumers: stop reading (Kafka), so no offset moves past an effect not yet stored;
 * 2. jobs: timers that write (the purchase sweeper, pruning) finish their round;
 * 3. publishers: the outbox relay flushes what the consumers and jobs committed;
 * 4. stores: a store other than the database writes what it gathered (audit's Elasticsearch);
 * then the database closes. The broker closes the node's Kafka producer after every service.
 */
export const PARTS = ["stores", "publishers", "jobs", "consumers"] as const;

export type Part = (typeof PARTS)[number];

export interface PartHooks {
	/** Awaited in turn: a start that may take long (joining a Kafka group) should not return its wait. */
	start?(): unknown;
	stop?(): unknown;
}

export class Lifecycle {
	private readonly hooks = new Map<Part, PartHooks[]>(PARTS.map(part => [part, []]));
	/** True once the parts have stopped: the database is closing, work must go to another node. */
	closing = false;

	add(part: Part, hooks: PartHooks): void {
		this.hooks.get(part)!.push(hooks);
	}

	async start(): Promise<void> {
		for (const part of PARTS) for (const hooks of this.hooks.get(part)!) await hooks.start?.();
	}

	async stop(): Promise<void> {
		for (const part of [...PARTS].reverse()) for (const hooks of this.hooks.get(part)!) await hooks.stop?.();
		this.closing = true;
	}
}

const lifecycles = new WeakMap<object, Lifecycle>();

/** The lifecycle of one service instance, whichever of its mixins asks first. */
export function lifecycleOf(service: object): Lifecycle {
	let lifecycle = lifecycles.get(service);
	if (!lifecycle) lifecycles.set(service, (lifecycle = new Lifecycle()));
	return lifecycle;
}

/**
 * A job that runs `round` at start and every `everyMs` after; a round that fails is logged by
 * `onError` and the next one comes as usual. Stopping clears the timer and waits for the round
 * in flight, so it finishes before the database closes.
 */
export function periodically(everyMs: number, round: () => Promise<unknown>, onError: (err: Error) => void): PartHooks {
	let timer: NodeJS.Timeout | undefined;
	let inFlight: Promise<unknown> = Promise.resolve();
	const run = () => {
		inFlight = round().catch(err => onError(err as Error));
	};
	return {
		start: () => {
			run();
			timer = setInterval(run, everyMs).unref();
		},
		stop: async () => {
			clearInterval(timer);
			await inFlight;
		}
	};
}
