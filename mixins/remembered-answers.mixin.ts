/**
 * Gives a service with keyed writes (lib/remembered-answers.ts) the job that forgets its
 * remembered answers once they are older than the retention, so the table does not grow
 * forever. The service's migrations create the table (`createRememberedAnswersTable`).
 */
import type { Service, ServiceSchema } from "moleculer";
import type { DbServiceThis } from "./db.mixin";
import { defineMixin } from "../lib/schema";
import { lifecycleOf } from "../lib/lifecycle";
import { ANSWER_RETENTION_MS, pruneRememberedAnswers } from "../lib/remembered-answers";

const PRUNE_EVERY_MS = 3600_000;

export interface RememberedAnswersThis {
	/** Forgets the answers remembered before `before`; the number forgotten. */
	pruneRememberedAnswers(before: Date): Promise<number>;
}

interface PrunerThis extends DbServiceThis, RememberedAnswersThis {
	answersPruneTimer?: NodeJS.Timeout;
	answersPruning?: Promise<unknown>;
}
type This = Service & PrunerThis;

export function createRememberedAnswersMixin(options: { retentionMs?: number } = {}): Partial<ServiceSchema> {
	const retentionMs = options.retentionMs ?? ANSWER_RETENTION_MS;
	return defineMixin<This>({
		methods: {
			pruneRememberedAnswers(this: This, before: Date): Promise<number> {
				return pruneRememberedAnswers(this.db, before);
			}
		},

		created(this: This) {
			const prune = () => {
				this.answersPruning = this.pruneRememberedAnswers(new Date(Date.now() - retentionMs)).catch(err =>
					this.logger.warn("Pruning remembered answers failed:", (err as Error).message)
				);
			};
			lifecycleOf(this).add("jobs", {
				start: () => {
					prune();
					this.answersPruneTimer = setInterval(prune, PRUNE_EVERY_MS).unref();
				},
				// The round in flight finishes before the database closes.
				stop: async () => {
					clearInterval(this.answersPruneTimer);
					await this.answersPruning;
				}
			});
		}
	});
}
