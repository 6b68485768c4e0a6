/**
 * The node's link to Kafka (KAFKA_BROKERS set): one client, one idempotent producer
 * (acks=all, one request in flight, so the events of a key stay in order), and the
 * topics, created at start with KAFKA_PARTITIONS partitions and a `<topic>.dlq` each.
 * NAMESPACE prefixes topics and consumer groups, so clusters sharing a Kafka stay apart.
 */
import { Kafka, logLevel, type Producer, type IHeaders, type LogEntry } from "kafkajs";
import type { ServiceBroker } from "moleculer";
import { appConfig } from "../config/broker-config";
import { AUDIT_LOGS_TOPIC, TOPICS } from "../contracts/events";

interface Link {
	kafka: Kafka;
	producer?: Promise<Producer>;
	topics?: Promise<void>;
	/** The readiness answer being worked out, or the last one; `at` is when it was known. */
	status?: { at?: number; answer: Promise<string> };
}

/** How long a readiness answer is reused, and how long asking Kafka may take. */
const STATUS_FRESH_MS = 2000;
const STATUS_TIMEOUT_MS = 3000;

const links = new WeakMap<ServiceBroker, Link>();

const ALL_TOPICS = [...new Set<string>(Object.values(TOPICS)), AUDIT_LOGS_TOPIC];

export function kafkaEnabled(broker: ServiceBroker): boolean {
	return appConfig(broker).kafkaBrokers.length > 0;
}

export function topicName(broker: ServiceBroker, topic: string): string {
	return broker.namespace ? `${broker.namespace}.${topic}` : topic;
}

/** The topic as the product names it (without the namespace prefix). */
export function plainTopic(broker: ServiceBroker, topic: string): string {
	return broker.namespace && topic.startsWith(`${broker.namespace}.`) ? topic.slice(broker.namespace.length + 1) : topic;
}

export function groupName(broker: ServiceBroker, group: string): string {
	return broker.namespace ? `${broker.namespace}.${group}` : group;
}

export function kafkaOf(broker: ServiceBroker): Kafka {
	return linkOf(broker).kafka;
}

/** The node's link, made on first use. */
function linkOf(broker: ServiceBroker): Link {
	let link = links.get(broker);
	if (!link) {
		const logger = broker.getLogger("kafka");
		link = {
			kafka: new Kafka({
				clientId: broker.nodeID,
				brokers: appConfig(broker).kafkaBrokers,
				logLevel: logLevel.WARN,
				logCreator: () => (entry: LogEntry) => logger.warn(`${entry.log.message}`, entry.log.error ?? "")
			})
		};
		links.set(broker, link);
	}
	return link;
}

/** Creates the topics (and their dead-letter topics) unless they exist; once per node. */
export function ensureTopics(broker: ServiceBroker): Promise<void> {
	const link = linkOf(broker);
	link.topics ??= (async () => {
		const admin = link.kafka.admin();
		// A connect that fails half way (Kafka going down) may leave a connection open: always disconnect.
		try {
			await admin.connect();
			const partitions = appConfig(broker).kafkaPartitions;
			await admin.createTopics({
				waitForLeaders: true,
				topics: ALL_TOPICS.flatMap(topic => [topic, `${topic}.dlq`]).map(topic => ({ topic: topicName(broker, topic), numPartitions: partitions }))
			});
		} finally {
			await admin.disconnect();
		}
	})().catch(err => {
		link.topics = undefined;
		throw err;
	});
	return link.topics;
}

function producerOf(broker: ServiceBroker): Promise<Producer> {
	const link = linkOf(broker);
	link.producer ??= (async () => {
		await ensureTopics(broker);
		const producer = link.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
		try {
			await producer.connect();
		} catch (err) {
			await producer.disconnect().catch(() => undefined);
			throw err;
		}
		return producer;
	})().catch(err => {
		link.producer = undefined;
		throw err;
	});
	return link.producer;
}

/** Sends one message and resolves once every in-sync replica has it. */
export async function produce(broker: ServiceBroker, topic: string, key: string, value: string, headers: IHeaders = {}): Promise<void> {
	const pending = producerOf(broker);
	const producer = await pending;
	try {
		await producer.send({ topic: topicName(broker, topic), acks: -1, messages: [{ key, value, headers }] });
	} catch (err) {
		// After an outage the broker may have come back without our topics (or our producer
		// id): the next attempt makes sure of both again. Of several sends failing together
		// only the first retires the producer, so none retires the new one and leaves it open.
		const link = linkOf(broker);
		if (link.producer === pending) {
			link.topics = undefined;
			link.producer = undefined;
			void producer.disconnect().catch(() => undefined);
		}
		throw err;
	}
}

/** Whether Kafka answers (for readiness). */
export function kafkaStatus(broker: ServiceBroker): Promise<string> {
	const link = linkOf(broker);
	// Probes may come often and from many places: one question to Kafka at a time answers
	// them all, and its answer serves those that come within STATUS_FRESH_MS after it.
	const status = link.status;
	if (status && (status.at === undefined || Date.now() - status.at < STATUS_FRESH_MS)) return status.answer;
	const ask = async () => {
		const admin = link.kafka.admin({ retry: { retries: 0 } });
		try {
			await admin.connect();
			const cluster = await admin.describeCluster();
			return cluster.brokers.length > 0 ? "up" : "down: no brokers";
		} catch (err) {
			return `down: ${(err as Error).message}`;
		} finally {
			await admin.disconnect().catch(() => undefined);
		}
	};
	const timeout = new Promise<string>(resolve => setTimeout(() => resolve(`down: no answer within ${STATUS_TIMEOUT_MS} ms`), STATUS_TIMEOUT_MS).unref());
	const current: NonNullable<Link["status"]> = { answer: Promise.race([ask(), timeout]) };
	void current.answer.then(() => (current.at = Date.now()));
	link.status = current;
	return current.answer;
}

/** Closes the producer when the broker stops (after the outbox relays have flushed). */
export async function disconnectKafka(broker: ServiceBroker): Promise<void> {
	const link = links.get(broker);
	if (!link?.producer) return;
	const producer = await link.producer.catch(() => undefined);
	await producer?.disconnect();
	link.producer = undefined;
}
