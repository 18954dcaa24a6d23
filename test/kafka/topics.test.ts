/**
 * Topic creation against a fake admin that answers as the brokers of a multi-broker cluster do right after
 * a CreateTopics: for a moment the broker asked for metadata does not know the new topic yet, then it shows
 * with leaders. ensureTopics waits that out, boundedly.
 */
import type { Admin, ITopicMetadata } from 'kafkajs';
import { loadConfig } from '../../src/config/config';
import { ensureTopics, partitionCounts, waitForTopicLeaders } from '../../src/kafka/topics';
import { createLogger } from '../../src/observability/log';

const unknownTopic = () => Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' });

function metadataOf(names: string[], leader = 1): { topics: ITopicMetadata[] } {
  return {
    topics: names.map((name) => ({
      name, partitions: [0, 1].map((partitionId) => ({ partitionId, leader, replicas: [1, 2, 3], isr: [1, 2, 3], partitionErrorCode: 0, offlineReplicas: [] })),
    })),
  };
}

/** A cluster whose metadata knows created topics only after `lagCalls` metadata requests. */
function laggingAdmin(lagCalls: number, createError?: Error) {
  const created = new Set<string>();
  let metadataCalls = 0;
  const admin = {
    createTopicsCalls: [] as unknown[],
    listTopics: async () => [] as string[],
    describeCluster: async () => ({ brokers: [1, 2, 3].map((nodeId) => ({ nodeId, host: '127.0.0.1', port: 9000 + nodeId })), controller: 1, clusterId: 'c' }),
    createTopics: async (req: { topics: Array<{ topic: string; replicationFactor?: number }>; waitForLeaders?: boolean }) => {
      admin.createTopicsCalls.push(req);
      if (createError !== undefined) throw createError;
      for (const t of req.topics) created.add(t.topic);
      return true;
    },
    fetchTopicMetadata: async ({ topics }: { topics: string[] }) => {
      if (++metadataCalls <= lagCalls || topics.some((t) => !created.has(t))) throw unknownTopic();
      return metadataOf(topics);
    },
  };
  return admin;
}

const config = loadConfig({ KLINESTREAM_TOPIC_PREFIX: 't.' }, {});
const log = createLogger({ level: 'error' });

describe('ensureTopics on a cluster of several brokers', () => {
  it('waits until a broker that did not know the new topics yet shows them with leaders, with replication factor 3', async () => {
    const admin = laggingAdmin(3);
    const r = await ensureTopics(admin as unknown as Admin, config, log);
    expect(r.created.length).toBe(6);
    expect(r.partitions['t.trades']).toBe(2);
    const req = admin.createTopicsCalls[0] as { topics: Array<{ replicationFactor: number }>; waitForLeaders: boolean };
    expect(req.topics.map((t) => t.replicationFactor)).toEqual([3, 3, 3, 3, 3, 3]);
    // kafkajs' own wait gives up at the first UNKNOWN_TOPIC_OR_PARTITION.
    expect(req.waitForLeaders).toBe(false);
  });

});

describe('waitForTopicLeaders', () => {
  it('waits while a partition has no leader yet', async () => {
    let calls = 0;
    const admin = { fetchTopicMetadata: async () => metadataOf(['a'], ++calls < 3 ? -1 : 2) };
    await expect(waitForTopicLeaders(admin as unknown as Admin, ['a'], 5000, 5)).resolves.toEqual({ partitions: { a: 2 } });
    expect(calls).toBe(3);
  });

  it('a topic the brokers never show: the last answer, after the timeout', async () => {
    const admin = laggingAdmin(0, new Error('Replication factor: 3 larger than available brokers: 2.'));
    await expect(waitForTopicLeaders(admin as unknown as Admin, ['t.trades'], 100, 10)).resolves.toEqual({ problem: 'This server does not host this topic-partition (after 100 ms)' });
  });

  it('says what it last saw when time runs out', async () => {
    const admin = { fetchTopicMetadata: async () => metadataOf(['a'], -1) };
    await expect(waitForTopicLeaders(admin as unknown as Admin, ['a', 'b'], 50, 5)).resolves.toEqual({ problem: 'no leader yet for every partition of a, b (after 50 ms)' });
  });
});

describe('partitionCounts', () => {
  it('waits out a broker that does not know a topic just created by another process', async () => {
    let calls = 0;
    const admin = {
      fetchTopicMetadata: async ({ topics }: { topics: string[] }) => {
        if (++calls < 3) throw unknownTopic();
        return metadataOf(topics);
      },
    };
    await expect(partitionCounts(admin, ['t.trades'])).resolves.toEqual({ 't.trades': 2 });
  });

  it('is an error naming the topics when they never show', async () => {
    const admin = { fetchTopicMetadata: async () => Promise.reject(unknownTopic()) };
    await expect(partitionCounts(admin, ['t.trades'], 50)).rejects.toThrow(/^topics t.trades are not ready: This server does not host this topic-partition \(after 50 ms\)$/);
  });
});
