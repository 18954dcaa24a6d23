/**
 * src/kafka/send-messages.ts against kafkajs 2.2.4's own sendMessages, both driven through the same fake
 * cluster: brokers that share one replicated log per partition and deduplicate by the idempotent sequence as
 * a Kafka broker does (a batch whose first sequence is below the next expected one is acknowledged and not
 * appended again). Where kafkajs is right (one leader, a retried leader, no failover) both must send the same
 * requests; where a leader fails over during a send with several leaders, kafkajs doubles or loses records
 * and the replacement must not.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
import { createSendMessages, type SendMessagesDeps } from '../../src/kafka/send-messages';

const { KafkaJSConnectionError, KafkaJSProtocolError } = require('kafkajs/src/errors') as {
  KafkaJSConnectionError: new (message: string, props?: object) => Error;
  KafkaJSProtocolError: new (e: object) => Error;
};
const { createErrorFromCode } = require('kafkajs/src/protocol/error') as { createErrorFromCode: (code: number) => object };
const createRetry = require('kafkajs/src/retry') as (options: object) => SendMessagesDeps['retrier'];
const kafkajsSendMessages = require('kafkajs/src/producer/sendMessages') as typeof createSendMessages;

const NOT_LEADER = 6;
const INVALID_RECORD = 87;

interface Message { key: string; value: string; partition: number }
interface ProduceCall { nodeId: number; partitions: Array<{ topic: string; partition: number; firstSequence: number; keys: string[] }> }

/** What one produce request to a broker does: `ok`, or fail before or after appending, or answer late. */
type Outcome = 'ok' | 'refused' | 'appended-then-lost' | { error: Error } | { lateBy: Promise<void> };

/**
 * A cluster of brokers with one log per partition (the replicas agree: what a leader appended survives its
 * failover), leaders that move when the test says so and become known at the next metadata refresh.
 */
class FakeCluster {
  readonly logs = new Map<string, string[]>();
  readonly calls: ProduceCall[] = [];
  readonly addedToTransaction: Array<Array<{ topic: string; partitions: number[] }>> = [];
  private readonly nextSequence = new Map<string, number>();
  private metadata: Map<string, number[]>;
  private movedTo: Map<string, number[]> | undefined;
  private readonly outcomes = new Map<number, Outcome[]>();
  private readonly brokers = new Map<number, { nodeId: number; produce: (request: ProduceRequest) => Promise<unknown> }>();
  private readonly askedWaiters: Array<{ nodeId: number; times: number; resolve: () => void }> = [];

  constructor(leaders: Record<string, number[]>) {
    this.metadata = new Map(Object.entries(leaders));
  }

  /** The next produce requests to `nodeId` have these outcomes, in order; then `ok`. */
  script(nodeId: number, ...outcomes: Outcome[]): void {
    this.outcomes.set(nodeId, outcomes);
  }

  /** Resolves once `nodeId` has been sent `times` produce requests. */
  whenAsked(nodeId: number, times: number): Promise<void> {
    return new Promise((resolve) => this.askedWaiters.push({ nodeId, times, resolve }));
  }

  /** From the next metadata refresh on, the partitions' leaders are these. */
  failOver(leaders: Record<string, number[]>): void {
    this.movedTo = new Map(Object.entries(leaders));
  }

  deps(transactional = false): SendMessagesDeps {
    const sequences = new Map<string, number>();
    const locks = new Map<number, Promise<void>>();
    const releases = new Map<number, () => void>();
    const refresh = async () => {
      if (this.movedTo !== undefined) this.metadata = this.movedTo;
    };
    const cluster = {
      refreshMetadataIfNecessary: async () => undefined,
      refreshMetadata: refresh,
      addMultipleTargetTopics: async () => undefined,
      findTopicPartitionMetadata: (topic: string) => (this.metadata.get(topic) ?? []).map((leader, partitionId) => ({ partitionId, leader })),
      findLeaderForPartitions: (topic: string, partitions: string[]) => {
        const out: Record<number, number[]> = {};
        for (const p of partitions.map(Number)) (out[this.metadata.get(topic)![p]!] ??= []).push(p);
        return out;
      },
      // One object per broker, as kafkajs' cluster has (its sendMessages keys its answers by it).
      // kafkajs asks by the keys of an object (strings).
      findBroker: async ({ nodeId: asked }: { nodeId: number | string }) => {
        const nodeId = Number(asked);
        let broker = this.brokers.get(nodeId);
        if (broker === undefined) this.brokers.set(nodeId, (broker = { nodeId, produce: (request: ProduceRequest) => this.produce(nodeId, request) }));
        return broker;
      },
      removeBroker: () => undefined,
      isConnected: () => true,
      connect: async () => undefined,
    };
    const eosManager = {
      // One request at a time per broker, as kafkajs' idempotent producer does.
      async acquireBrokerLock(broker: { nodeId: number }) {
        while (locks.has(broker.nodeId)) await locks.get(broker.nodeId);
        locks.set(broker.nodeId, new Promise((r) => releases.set(broker.nodeId, r)));
      },
      async releaseBrokerLock(broker: { nodeId: number }) {
        locks.delete(broker.nodeId);
        releases.get(broker.nodeId)!();
      },
      isTransactional: () => transactional,
      addPartitionsToTransaction: async (topicData: Array<{ topic: string; partitions: Array<{ partition: number }> }>) => {
        this.addedToTransaction.push(topicData.map((t) => ({ topic: t.topic, partitions: t.partitions.map((p) => p.partition) })));
      },
      getSequence: (topic: string, partition: number) => sequences.get(`${topic}-${partition}`) ?? 0,
      updateSequence: (topic: string, partition: number, increment: number) => {
        sequences.set(`${topic}-${partition}`, (sequences.get(`${topic}-${partition}`) ?? 0) + increment);
      },
      getTransactionalId: () => 'tx',
      getProducerId: () => 7,
      getProducerEpoch: () => 0,
    };
    const logger = { debug: () => undefined, error: () => undefined };
    const partitioner = ({ message }: { message: unknown }) => (message as Message).partition;
    const retrier = createRetry({ retries: 5, initialRetryTime: 1, maxRetryTime: 5 });
    return { logger, cluster, partitioner, eosManager, retrier } as unknown as SendMessagesDeps;
  }

  private async produce(nodeId: number, { topicData }: ProduceRequest): Promise<unknown> {
    const partitions = topicData.flatMap(({ topic, partitions: ps }) => ps.map((p) => ({
      topic, partition: p.partition, firstSequence: p.firstSequence, keys: p.messages.map((m) => m.key),
    })));
    this.calls.push({ nodeId, partitions });
    const asked = this.calls.filter((c) => c.nodeId === nodeId).length;
    for (const w of this.askedWaiters) if (w.nodeId === nodeId && w.times === asked) w.resolve();
    const outcome = this.outcomes.get(nodeId)?.shift() ?? 'ok';
    if (outcome === 'refused') throw new KafkaJSConnectionError('Connection error: connect ECONNREFUSED', { broker: `b${nodeId}` });
    if (typeof outcome === 'object' && 'error' in outcome) throw outcome.error;
    for (const p of partitions) {
      const tp = `${p.topic}-${p.partition}`;
      if (this.metadata.get(p.topic)![p.partition] !== nodeId) throw new KafkaJSProtocolError(createErrorFromCode(NOT_LEADER));
      const next = this.nextSequence.get(tp) ?? 0;
      if (p.firstSequence > next) throw new Error(`OUT_OF_ORDER_SEQUENCE_NUMBER on ${tp}: ${p.firstSequence} after ${next}`);
      // A duplicate of a batch already appended (the broker keeps the last five per producer): acknowledged, not appended.
      if (p.firstSequence < next) continue;
      this.logs.set(tp, [...(this.logs.get(tp) ?? []), ...p.keys]);
      this.nextSequence.set(tp, next + p.keys.length);
    }
    if (outcome === 'appended-then-lost') throw new KafkaJSConnectionError('Connection error: read ECONNRESET', { broker: `b${nodeId}` });
    if (typeof outcome === 'object') await outcome.lateBy;
    return { topics: topicData.map(({ topic, partitions: ps }) => ({ topicName: topic, partitions: ps.map((p) => ({ partition: p.partition, errorCode: 0, baseOffset: '0' })) })) };
  }
}

interface ProduceRequest { topicData: Array<{ topic: string; partitions: Array<{ partition: number; firstSequence: number; messages: Message[] }> }> }

function messages(topic: string, partitions: number[], perPartition: number): { topic: string; messages: Message[] } {
  return { topic, messages: partitions.flatMap((p) => Array.from({ length: perPartition }, (_, i) => ({ key: `${topic}${p}.${i}`, value: '', partition: p }))) };
}

const implementations = [['klinestream', createSendMessages], ['kafkajs 2.2.4', kafkajsSendMessages]] as const;

/** Sends through `impl` on a fresh cluster prepared by `setup`; what reached the logs and which requests went out. */
async function run(impl: typeof createSendMessages, leaders: Record<string, number[]>, topicMessages: Array<{ topic: string; messages: Message[] }>, setup: (c: FakeCluster) => void = () => undefined, transactional = false) {
  const cluster = new FakeCluster(leaders);
  setup(cluster);
  const responses = await impl(cluster.deps(transactional))({ acks: -1, timeout: 1000, compression: 0, topicMessages });
  const acknowledged = (responses as Array<{ topicName: string; partition: number }>).map((r) => `${r.topicName}-${r.partition}`).sort();
  return { logs: Object.fromEntries([...cluster.logs].sort()), calls: cluster.calls, acknowledged, addedToTransaction: cluster.addedToTransaction };
}

/** Each partition's messages in order, once. */
function exactlyOnce(topicMessages: Array<{ topic: string; messages: Message[] }>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const { topic, messages: ms } of topicMessages) for (const m of ms) (out[`${topic}-${m.partition}`] ??= []).push(m.key);
  return Object.fromEntries(Object.entries(out).sort());
}

describe('sendMessages where kafkajs is right: the same requests as kafkajs', () => {
  const byRequest = (calls: ProduceCall[]) => calls.map((c) => JSON.stringify(c)).sort();

  it.each([false, true])('several topics and leaders, every partition acknowledged (transactional %s)', async (transactional) => {
    const topicMessages = [messages('a', [0, 1, 2], 3), messages('b', [0, 1], 2)];
    const leaders = { a: [1, 2, 1], b: [2, 2] };
    const [ours, theirs] = await Promise.all(implementations.map(([, impl]) => run(impl, leaders, topicMessages, undefined, transactional)));
    expect(ours.logs).toEqual(exactlyOnce(topicMessages));
    expect(byRequest(ours.calls)).toEqual(byRequest(theirs.calls));
    expect(ours.acknowledged).toEqual(['a-0', 'a-1', 'a-2', 'b-0', 'b-1']);
    expect(ours.acknowledged).toEqual(theirs.acknowledged);
    expect(ours.addedToTransaction.map((t) => JSON.stringify(t)).sort()).toEqual(theirs.addedToTransaction.map((t) => JSON.stringify(t)).sort());
    expect(ours.addedToTransaction.length).toBe(transactional ? 2 : 0);
  });

  it.each(implementations)('%s: the one leader fails over after appending; the retry to the new leader under the same sequence is taken for the duplicate it is', async (_, impl) => {
    const topicMessages = [messages('a', [0], 4)];
    const r = await run(impl, { a: [1] }, topicMessages, (c) => {
      c.script(1, 'appended-then-lost');
      c.failOver({ a: [2] });
    });
    expect(r.logs).toEqual(exactlyOnce(topicMessages));
    expect(r.calls.map((c) => [c.nodeId, c.partitions[0]!.firstSequence])).toEqual([[1, 0], [2, 0]]);
  });

  it.each(implementations)('%s: a leader that refuses once is asked again with the same sequence, the other leader not', async (_, impl) => {
    const topicMessages = [messages('a', [0, 1], 2)];
    const r = await run(impl, { a: [1, 2] }, topicMessages, (c) => c.script(1, 'refused'));
    expect(r.logs).toEqual(exactlyOnce(topicMessages));
    expect(r.calls.map((c) => c.nodeId).sort()).toEqual([1, 1, 2]);
  });

  it.each(implementations)('%s: a non-retriable error fails the send', async (_, impl) => {
    const invalid = new KafkaJSProtocolError(createErrorFromCode(INVALID_RECORD));
    await expect(run(impl, { a: [1] }, [messages('a', [0], 1)], (c) => c.script(1, { error: invalid }))).rejects.toThrow(/failed the validation/);
  });
});

describe('sendMessages when a leader fails over during a send with several leaders', () => {
  it('a request still in flight when another leader fails is not sent again under new sequence numbers (kafkajs doubles it)', async () => {
    const topicMessages = [messages('a', [0, 1], 3)];
    const outcome = (impl: typeof createSendMessages) => run(impl, { a: [1, 2] }, topicMessages, (c) => {
      // Broker 2 appends at once but answers late: when broker 1 is asked again (kafkajs retries while
      // broker 2's request is in flight), or after 200 ms (the replacement waits for it before retrying).
      const slow = new Promise<void>((r) => {
        void c.whenAsked(1, 2).then(r);
        setTimeout(r, 200).unref();
      });
      c.script(2, { lateBy: slow });
      c.script(1, 'refused');
    });
    const ours = await outcome(createSendMessages);
    expect(ours.logs).toEqual(exactlyOnce(topicMessages));
    expect(ours.acknowledged).toEqual(['a-0', 'a-1']);
    const theirs = await outcome(kafkajsSendMessages);
    expect(theirs.logs['a-1']).toEqual(['a1.0', 'a1.1', 'a1.2', 'a1.0', 'a1.1', 'a1.2']);
  });

  it('a partition whose leader died and moved to a broker that had answered is sent there (kafkajs resolves without it)', async () => {
    const topicMessages = [messages('a', [0, 1], 2), messages('b', [0], 2)];
    const outcome = (impl: typeof createSendMessages) => run(impl, { a: [1, 2], b: [2] }, topicMessages, (c) => {
      c.script(1, 'refused');
      c.failOver({ a: [2, 2], b: [2] });
    });
    const ours = await outcome(createSendMessages);
    expect(ours.logs).toEqual(exactlyOnce(topicMessages));
    expect(ours.acknowledged).toEqual(['a-0', 'a-1', 'b-0']);
    // Only the partition that was not acknowledged goes to the new leader.
    expect(ours.calls.at(-1)).toEqual({ nodeId: 2, partitions: [{ topic: 'a', partition: 0, firstSequence: 0, keys: ['a0.0', 'a0.1'] }] });
    const theirs = await outcome(kafkajsSendMessages);
    expect(theirs.logs['a-0']).toBeUndefined();
  });

  it('a partition without a leader in the metadata is waited for, not dropped', async () => {
    const topicMessages = [messages('a', [0, 1], 2)];
    const r = await run(createSendMessages, { a: [1, -1] }, topicMessages, (c) => c.failOver({ a: [1, 3] }));
    expect(r.logs).toEqual(exactlyOnce(topicMessages));
    expect(r.acknowledged).toEqual(['a-0', 'a-1']);
  });
});
