/**
 * A node's membership of a Kafka consumer group for as long as it runs: it joins, and joins
 * again for as long as it takes, since Kafka may be away when the node starts or the consumer
 * may crash for good after an outage longer than its own retries. Either way the node goes on
 * consuming once Kafka is back. Each message's offset is committed only once `handle` resolved.
 */
import type { Service, ServiceBroker } from "moleculer";
import type { Consumer, KafkaMessage } from "kafkajs";
import { appConfig } from "../config/broker-config";
import { doublingDelay, sleep } from "./resilience";
import { ensureTopics, groupName, kafkaOf, plainTopic, topicName } from "./kafka";
import { setMetric } from "./metrics";

export interface ConsumerGroupOptions {
	broker: ServiceBroker;
	logger: Service["logger"];
	/** The group's name in the contract (the consuming service's). */
	group: string;
	/** The topics it reads, without the namespace. */
	topics: string[];
	/** One message of a topic (without the namespace); `heartbeat` keeps the partition while it retries. */
	handle(topic: string, message: KafkaMessage, heartbeat: () => Promise<void>): Promise<void>;
}

export class KafkaConsumerGroup {
	/** Set once the node leaves: no more (re)joining, and a message being retried gives up its offset. */
	stopping = false;
	private consumer?: Consumer;

	constructor(private readonly options: ConsumerGroupOptions) {}

	async start(): Promise<void> {
		const { broker, logger, group, topics } = this.options;
		for (let attempt = 0; !this.stopping; attempt++) {
			const consumer = kafkaOf(broker).consumer({
				groupId: groupName(broker, group),
				sessionTimeout: 10_000,
				heartbeatInterval: 1000,
				// kafkajs restarts a crashed consumer on its own; never once the node is leaving,
				// or the restart would reconnect after the disconnect.
				retry: { retries: 5, restartOnFailure: async () => !this.stopping }
			});
			this.consumer = consumer;
			try {
				await ensureTopics(broker);
				await consumer.connect();
				await consumer.subscribe({ topics: topics.map(topic => topicName(broker, topic)), fromBeginning: true });
				consumer.on(consumer.events.CRASH, ({ payload }) => {
					if (payload.restart || this.stopping) return;
					logger.warn(`The Kafka consumer stopped (${payload.error?.message}); joining again.`);
					void consumer.disconnect().catch(() => undefined).then(() => this.start());
				});
				// How far behind its partitions the group is, after each batch it handled.
				consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) =>
					setMetric(broker, "kafka_consumer_lag_messages", Number(payload.offsetLag), {
						consumer: group,
						topic: plainTopic(broker, payload.topic),
						partition: String(payload.partition)
					})
				);
				// Partitions are read side by side (each still in order), so a store can gather their messages.
				await consumer.run({
					partitionsConsumedConcurrently: appConfig(broker).kafkaPartitions,
					eachMessage: ({ topic, message, heartbeat }) => this.options.handle(plainTopic(broker, topic), message, heartbeat)
				});
				// The node may have begun to leave while this consumer was joining.
				if (this.stopping) return void (await consumer.disconnect());
				logger.info(`Consuming ${topics.join(", ")} from Kafka as group ${groupName(broker, group)}.`);
				return;
			} catch (err) {
				await consumer.disconnect().catch(() => undefined);
				if (this.stopping) return;
				const delay = doublingDelay(attempt, 250, 5000);
				logger.warn(`The Kafka consumer could not start (${(err as Error).message}); trying again in ${delay} ms.`);
				await sleep(delay);
			}
		}
	}

	async stop(): Promise<void> {
		this.stopping = true;
		await this.consumer?.disconnect();
	}
}
