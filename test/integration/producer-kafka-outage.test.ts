/**
 * Kafka away mid-stream (SPEC 4, issue 7 item 5): the producer (`produce --source binance`, its own process)
 * writes to a private broker that is stopped for a stretch of the stand-in's timeline and started again. Its
 * outgoing buffer is bounded small (2,000 trades), so the outage overflows it: the symbols that find it full
 * are deferred (and, once a transaction failed, the buffer is dropped), their ranges recorded, and backfilled
 * from REST once Kafka is back. Afterwards `trades` holds exactly the exchange's trades, each once, in id
 * order; the buffer never held more than its bound.
 */
import { createKafka } from '../../src/kafka/kafkajs-logging';
import type { ExchangeStandin, StandinTrade } from '../support/exchange-standin';
import { testConnection, testLogger, uniqueName } from './helpers';
import { appPrefix } from './pipeline-helpers';
import { PrivateKafka } from './private-kafka';
import { ProducerProcess, pollUntil, producerEnv, stopAllProducers } from './support/producer-process';
import { closeStandins, DATA_FILES, startStandin, waitForConnections } from './support/standin-setup';
import { checkTrades, readContent, waitForCheckpoints, type TopicContent } from './support/trades-topic';

jest.setTimeout(240_000);

const prefix = appPrefix('producer-outage');
const BOUND = 2000;
let broker: PrivateKafka;
let ex: ExchangeStandin;
let expected: Map<string, readonly StandinTrade[]>;
let content: TopicContent;
let maxBuffered = 0;
let deferrals = 0;
let unfillable = 0;

beforeAll(async () => {
  broker = await PrivateKafka.start();
  ex = await startStandin({ files: [{ path: DATA_FILES.btc2024Aug }, { path: DATA_FILES.usdm5 }], speed: 12, seed: 11 });
  expected = ex.expectedRecords();
  const start = ex.timelineInfo.start;
  const env = producerEnv(prefix, ex, {
    KAFKA_BROKERS: broker.brokers, SCHEMA_REGISTRY_URL: testConnection().schemaRegistryUrl,
    KLINESTREAM_PARTITIONS: '4', KLINESTREAM_PRODUCER_BUFFER_TRADES: String(BOUND),
  });
  const producer = ProducerProcess.start(['--source', 'binance', '--symbols', [...expected.keys()].join(',')], env);
  await producer.ready();
  await waitForConnections(ex, 1);
  ex.play();
  const sample = async () => {
    const m = await producer.metrics();
    maxBuffered = Math.max(maxBuffered, m.value('klinestream_producer_buffer_records'));
    deferrals = m.value('klinestream_producer_sequencer', { counter: 'deferrals' });
    unfillable = m.value('klinestream_producer_sequencer', { counter: 'unfillableGaps' });
  };

  // A quarter into the timeline, Kafka goes away for 60 s of exchange time (5 s of wall time at 12x, plus
  // the broker's own stop and start), long enough to overflow the bounded buffer.
  await pollUntil('a quarter of the timeline', () => ex.serverTime() >= start + 80_000, 60_000);
  await broker.down();
  const downAt = ex.serverTime();
  await pollUntil('the buffer to overflow while Kafka is away', async () => {
    await sample();
    return deferrals >= 1 && ex.serverTime() - downAt >= 60_000;
  }, 90_000, 200);
  await broker.up();

  await ex.finished;
  const caughtUp = await waitForCheckpoints(prefix, expected, 90_000, kafkaOf(broker));
  await sample();
  expect(await producer.stop()).toEqual({ code: 0, signal: null });
  if (!caughtUp) process.stderr.write(`the producer did not commit every trade within 90 s:\n${producer.stderrTail()}\n`);
  content = await readContent(prefix, kafkaOf(broker));
});

afterAll(async () => {
  await stopAllProducers();
  await closeStandins();
  await broker?.destroy();
});

function kafkaOf(b: PrivateKafka) {
  return createKafka({ clientId: uniqueName('outage-reader'), brokers: [b.brokers], log: testLogger() });
}

it('loses nothing and doubles nothing across the outage, with the buffer bounded and overflowing into REST backfills', () => {
  expect(checkTrades(content, expected)).toEqual([]);
  expect(deferrals).toBeGreaterThanOrEqual(1);
  expect(maxBuffered).toBeLessThanOrEqual(BOUND);
  expect(unfillable).toBe(0);
});
