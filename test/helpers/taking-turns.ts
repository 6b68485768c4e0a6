/**
 * Suites that load the whole machine (clusters of node processes, containers, Kafka and
 * Elasticsearch restarted) take turns: on two cores, two of them at once starve each other's
 * nodes until calls time out, which says nothing of the code. Each holds a lock directory for
 * its whole run; jest's other worker goes on with the lighter suites. A lock whose holder died
 * is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const LOCK = join(tmpdir(), "product-inventory-heavy-suite.lock");
const OWNER = join(LOCK, "pid");
/** Longer than any heavy suite runs: a lock held this long is taken over whoever holds it. */
const LONGEST_TURN_MS = 10 * 60_000;

function holderAlive(): boolean {
	try {
		process.kill(Number(readFileSync(OWNER, "utf8")), 0);
		return true;
	} catch {
		return false;
	}
}

async function acquire(): Promise<void> {
	const since = Date.now();
	for (;;) {
		try {
			mkdirSync(LOCK);
			writeFileSync(OWNER, String(process.pid));
			return;
		} catch {
			// Held: wait, unless its holder is gone (give a new holder a moment to write its pid).
			await new Promise(resolve => setTimeout(resolve, 500));
			if (Date.now() - since > LONGEST_TURN_MS) rmSync(LOCK, { recursive: true, force: true });
			else if (!holderAlive()) {
				await new Promise(resolve => setTimeout(resolve, 500));
				if (!holderAlive()) rmSync(LOCK, { recursive: true, force: true });
			}
		}
	}
}

/** Call first in the suite's describe, before the hooks that start its engines or nodes. */
export function takingTurns(): void {
	beforeAll(acquire, 900_000);
	afterAll(() => rmSync(LOCK, { recursive: true, force: true }));
}
