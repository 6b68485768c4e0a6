/**
 * `parked` with Kafka: a message no consumer can read is parked by each consumer group on
 * its topic's dead-letter topic, and the REPL of a real node (`server.ts --repl`, every
 * service, events through the real Kafka) counts it there and per consumer.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { describeWith, engineUrl, KAFKA_ENV } from "../helpers/engines";
import { freePort } from "../../scripts/cluster-nodes";
import { startReplNode, type ReplNode } from "../helpers/repl";
import { takingTurns } from "../helpers/taking-turns";
import { waitFor } from "../helpers/wait";

const brokers = engineUrl(KAFKA_ENV, "127.0.0.1:9092");

describeWith(brokers)("the REPL's parked command with Kafka", () => {
	// Not while a Kafka suite stops and restarts the broker.
	takingTurns();
	const namespace = `repl${randomBytes(4).toString("hex")}`;
	const kafka = new Kafka({ clientId: `test-${namespace}`, brokers: [brokers ?? "127.0.0.1:9092"], logLevel: logLevel.NOTHING });
	let dir: string;
	let node: ReplNode;

	beforeAll(async () => {
		dir = mkdtempSync(join(tmpdir(), "pi-repl-kafka-"));
		node = await startReplNode({
			DATABASE_URL: `sqlite:${join(dir, "inventory.sqlite")}`,
			KAFKA_BROKERS: brokers!,
			NAMESPACE: namespace,
			PORT: String(await freePort()),
			METRICS_PORT: String(await freePort())
		});
	}, 180_000);

	afterAll(async () => {
		await node?.stop();
		rmSync(dir, { recursive: true, force: true });
	}, 60_000);

	it("counts a poison message on the dead-letter topic and per consumer group that parked it", async () => {
		// The node makes its topics as it starts: until they have leaders, their counts are unknown.
		await waitFor(async () => /\nproduct-events\.dlq\s+0\n/.test(await node.run("parked")), 60_000);
		const producer = kafka.producer();
		await producer.connect();
		await producer.send({ topic: `${namespace}.product-events`, messages: [{ key: "poison", value: "not json" }] });
		await producer.disconnect();

		// Both groups that read product-events (inventory and audit) park it once, on its dead-letter topic only.
		const parked = [/\naudit\s+1\n/, /\ninventory\s+1\n/, /\nproduct-events\.dlq\s+2\n/];
		const after = await waitFor(async () => {
			const output = await node.run("parked");
			return parked.every(line => line.test(output)) && output;
		}, 60_000);
		expect(after).toMatch(/\npurchase-events\.dlq\s+0$/);
	}, 150_000);
});
