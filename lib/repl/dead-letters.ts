/** How many messages wait on each dead-letter topic, read from Kafka's offsets (earliest to latest, per partition). */
import type { ServiceBroker } from "moleculer";
import { AUDIT_LOGS_TOPIC, TOPICS } from "../../contracts/events";
import { kafkaOf, topicName } from "../kafka";

export const DEAD_LETTER_TOPICS = [...new Set<string>([...Object.values(TOPICS), AUDIT_LOGS_TOPIC])].map(topic => `${topic}.dlq`).sort();

export async function deadLetterCounts(broker: ServiceBroker): Promise<{ topic: string; messages: number | string }[]> {
	const admin = kafkaOf(broker).admin();
	await admin.connect();
	try {
		return await Promise.all(
			DEAD_LETTER_TOPICS.map(async topic => {
				try {
					const partitions = await admin.fetchTopicOffsets(topicName(broker, topic));
					return { topic, messages: partitions.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0) };
				} catch (err) {
					return { topic, messages: `unknown (${(err as Error).message})` };
				}
			})
		);
	} finally {
		await admin.disconnect();
	}
}
