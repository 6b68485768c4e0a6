/**
 * Gives a service with keyed writes (lib/remembered-answers.ts) the job that forgets its
 * remembered answers once their retention is over, so the table does not grow forever.
 * The service's migrations create the table (`createRememberedAnswersTable`).
 */
import type { Service, ServiceSchema } from "moleculer";
import type { DbServiceThis } from "./db.mixin";
import { defineMixin } from "../lib/schema";
import { lifecycleOf, periodically } from "../lib/lifecycle";
import { pruneRememberedAnswers } from "../lib/remembered-answers";

/** Often enough that the answers to the gateway's own keys (kept 10 minutes) do not pile up. */
const PRUNE_EVERY_MS = 5 * 60_000;

export interface RememberedAnswersThis {
	/** Forgets the answers whose retention ended before `now`; the number forgotten. */
	pruneRememberedAnswers(now: Date): Promise<number>;
}

type This = Service & DbServiceThis & RememberedAnswersThis;

export function createRememberedAnswersMixin(): Partial<ServiceSchema> {
	return defineMixin<This>({
		methods: {
			pruneRememberedAnswers(this: This, now: Date): Promise<number> {
				return pruneRememberedAnswers(this.db, now);
			}
		},

		created(this: This) {
			lifecycleOf(this).add(
				"jobs",
				periodically(PRUNE_EVERY_MS, () => this.pruneRememberedAnswers(new Date()), err => this.logger.warn("Pruning remembered answers failed:", err.message))
			);
		}
	});
}
