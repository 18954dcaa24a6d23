/**
 * A replacement for kafkajs 2.2.4's `producer/sendMessages` (installed by ./kafkajs-patch.ts), the function
 * behind every `send`/`sendBatch` of a kafkajs producer, transactional or not. kafkajs' own loses and
 * duplicates records when a partition leader fails over during a send (found by
 * test/integration/broker-failover.test.ts on a 3-node cluster: trades missing from and doubled in a
 * committed transaction of `trades`, a (symbol, interval, openTime, version) twice under exactly-once):
 *
 * 1. Duplicates. One attempt sends one request per leader and awaits them with `Promise.all`, which rejects
 *    at the first failure (the leader that was killed) while requests to the other leaders are still in
 *    flight. The retry then sends those brokers' messages again, and, since the first request has meanwhile
 *    advanced the idempotent sequence, under new sequence numbers: the broker appends them a second time.
 * 2. Losses. Responses are kept per broker across retries, and a broker that answered is not asked again.
 *    A partition whose leader died and moved to such a broker is therefore never resent, and the send
 *    resolves as if it had been written. (A partition missing from the metadata is skipped silently too.)
 *
 * Here every attempt waits for all its requests to settle before the next one, and what is remembered
 * across attempts is per topic-partition: an attempt sends exactly the partitions not acknowledged yet, to
 * their current leaders, each under the sequence numbers the broker expects next (a failed request gives
 * its sequence numbers back, as kafkajs does, so a request the dead leader had appended is recognised by
 * the new leader as a duplicate instead of being written again). Everything else (metadata refresh, broker
 * locks, transactions' AddPartitionsToTxn, the retry policy and its error handling) is kafkajs' own.
 */
/* eslint-disable @typescript-eslint/no-require-imports */

const { KafkaJSMetadataNotLoaded } = require('kafkajs/src/errors') as { KafkaJSMetadataNotLoaded: new (message: string, props?: object) => Error };
const { staleMetadata } = require('kafkajs/src/protocol/error') as { staleMetadata: (e: unknown) => boolean };
const createTopicData = require('kafkajs/src/producer/createTopicData.js') as (data: TopicDataForBroker[]) => TopicData[];
const responseSerializer = require('kafkajs/src/producer/responseSerializer.js') as (response: unknown) => PartitionResponse[];

type GroupMessages = (args: { topic: string; partitionMetadata: unknown[]; messages: unknown[]; partitioner: Partitioner }) => Record<number, unknown[]>;

/**
 * kafkajs' `groupMessagesPerPartition` as the module cache has it when a send runs: the linear one that
 * ./kafkajs-patch.ts installs (which loads this module first, so it cannot be taken at load time here).
 */
function groupMessagesPerPartition(args: Parameters<GroupMessages>[0]): Record<number, unknown[]> {
  return (require('kafkajs/src/producer/groupMessagesPerPartition.js') as GroupMessages)(args);
}

interface PartitionMetadata {
  partitionId: number;
  leader: number | null | undefined;
}

interface Broker {
  nodeId: number;
  produce(request: object): Promise<unknown>;
}

interface Cluster {
  refreshMetadataIfNecessary(): Promise<void>;
  refreshMetadata(): Promise<void>;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  findTopicPartitionMetadata(topic: string): PartitionMetadata[];
  findBroker(args: { nodeId: number }): Promise<Broker>;
  removeBroker(args: { host: string; port: number }): void;
  isConnected(): boolean;
  connect(): Promise<void>;
}

interface EosManager {
  acquireBrokerLock(broker: Broker): Promise<void>;
  releaseBrokerLock(broker: Broker): Promise<void>;
  isTransactional(): boolean;
  addPartitionsToTransaction(topicData: TopicData[]): Promise<void>;
  getSequence(topic: string, partition: number): number;
  updateSequence(topic: string, partition: number, increment: number): void;
  getTransactionalId(): string;
  getProducerId(): number;
  getProducerEpoch(): number;
}

interface Logger {
  debug(message: string, extra?: object): void;
  error(message: string, extra?: object): void;
}

type Retrier = <T>(fn: (bail: (e: unknown) => never, retryCount: number, retryTime: number) => Promise<T>) => Promise<T>;

interface TopicDataForBroker {
  topic: string;
  partitions: number[];
  messagesPerPartition: Record<number, unknown[]>;
}

interface TopicData {
  topic: string;
  partitions: Array<{ partition: number; messages: unknown[]; firstSequence?: number }>;
}

interface PartitionResponse {
  topicName: string;
  partition: number;
  [k: string]: unknown;
}

interface SendArgs {
  acks: number;
  timeout: number;
  compression: unknown;
  topicMessages: Array<{ topic: string; messages: unknown[] }>;
}

interface KafkaError {
  name?: string;
  message?: string;
  retriable?: boolean;
  host?: string;
  port?: number;
}

type Partitioner = (args: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;

export interface SendMessagesDeps {
  logger: Logger;
  cluster: Cluster;
  partitioner: Partitioner;
  eosManager: EosManager;
  retrier: Retrier;
}

const partitionKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export function createSendMessages({ logger, cluster, partitioner, eosManager, retrier }: SendMessagesDeps) {
  return async ({ acks, timeout, compression, topicMessages }: SendArgs): Promise<PartitionResponse[]> => {
    /** Per topic-partition of this send, the broker's answer once it acknowledged the partition's messages. */
    const acknowledged = new Map<string, PartitionResponse>();

    /** The partitions not acknowledged yet, grouped by their leader as the metadata says now. */
    const pendingPerLeader = (): Map<number, TopicDataForBroker[]> => {
      const perLeader = new Map<number, TopicDataForBroker[]>();
      for (const { topic, messages } of topicMessages) {
        const partitionMetadata = cluster.findTopicPartitionMetadata(topic);
        if (partitionMetadata.length === 0) throw new KafkaJSMetadataNotLoaded('Producing to topic without metadata');
        const messagesPerPartition = groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner });
        for (const partition of Object.keys(messagesPerPartition).map(Number)) {
          if (acknowledged.has(partitionKey(topic, partition))) continue;
          const leader = partitionMetadata.find((p) => p.partitionId === partition)?.leader;
          // kafkajs drops such a partition's messages without a word; wait for metadata that has a leader.
          if (leader === null || leader === undefined || leader < 0) {
            throw new KafkaJSMetadataNotLoaded('Producing to a partition without a leader in the metadata', { topic, partition });
          }
          let forLeader = perLeader.get(leader);
          if (forLeader === undefined) perLeader.set(leader, (forLeader = []));
          let forTopic = forLeader.find((t) => t.topic === topic);
          if (forTopic === undefined) forLeader.push((forTopic = { topic, partitions: [], messagesPerPartition }));
          forTopic.partitions.push(partition);
        }
      }
      return perLeader;
    };

    const sendTo = async (nodeId: number, topicDataForBroker: TopicDataForBroker[]): Promise<void> => {
      const broker = await cluster.findBroker({ nodeId });
      const topicData = createTopicData(topicDataForBroker);
      await eosManager.acquireBrokerLock(broker);
      try {
        if (eosManager.isTransactional()) await eosManager.addPartitionsToTransaction(topicData);
        for (const { topic, partitions } of topicData) {
          for (const entry of partitions) {
            entry.firstSequence = eosManager.getSequence(topic, entry.partition);
            eosManager.updateSequence(topic, entry.partition, entry.messages.length);
          }
        }
        let response: unknown;
        try {
          response = await broker.produce({
            transactionalId: eosManager.isTransactional() ? eosManager.getTransactionalId() : undefined,
            producerId: eosManager.getProducerId(),
            producerEpoch: eosManager.getProducerEpoch(),
            acks, timeout, compression, topicData,
          });
        } catch (e) {
          for (const { topic, partitions } of topicData) {
            for (const entry of partitions) eosManager.updateSequence(topic, entry.partition, -entry.messages.length);
          }
          throw e;
        }
        if (acks === 0) {
          // No answer is expected (nor kept, as in kafkajs): the partitions count as sent.
          for (const { topic, partitions } of topicData) for (const p of partitions) acknowledged.set(partitionKey(topic, p.partition), { topicName: topic, partition: p.partition });
        } else {
          for (const r of responseSerializer(response)) acknowledged.set(partitionKey(r.topicName, r.partition), r);
        }
      } finally {
        await eosManager.releaseBrokerLock(broker);
      }
    };

    const topics = topicMessages.map(({ topic }) => topic);
    return retrier(async (bail, retryCount, retryTime) => {
      await cluster.addMultipleTargetTopics(topics);
      try {
        await cluster.refreshMetadataIfNecessary();
        const requests = [...pendingPerLeader()].map(([nodeId, data]) => sendTo(nodeId, data));
        // Every request settled before anything is retried: none may still be in flight when its
        // partitions' sequence numbers are handed out again.
        const failed = (await Promise.allSettled(requests)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
        return acks === 0 ? [] : [...acknowledged.values()];
      } catch (caught) {
        // From here on kafkajs' own handling of a failed attempt, unchanged.
        const e = caught as KafkaError;
        if (e.name === 'KafkaJSConnectionClosedError') cluster.removeBroker({ host: e.host!, port: e.port! });
        if (!cluster.isConnected()) {
          logger.debug(`Cluster has disconnected, reconnecting: ${e.message}`, { retryCount, retryTime });
          await cluster.connect();
          await cluster.refreshMetadata();
          throw e;
        }
        if (
          staleMetadata(e) ||
          e.name === 'KafkaJSMetadataNotLoaded' ||
          e.name === 'KafkaJSConnectionError' ||
          e.name === 'KafkaJSConnectionClosedError' ||
          (e.name === 'KafkaJSProtocolError' && e.retriable)
        ) {
          logger.error(`Failed to send messages: ${e.message}`, { retryCount, retryTime });
          await cluster.refreshMetadata();
          throw e;
        }
        logger.error(`${e.message}`, { retryCount, retryTime });
        if (e.retriable) throw e;
        return bail(e);
      }
    });
  };
}
