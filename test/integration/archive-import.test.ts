/**
 * History import through Kafka: `produce --source file:ARCHIVE.csv --symbol S` (the exchange's archive CSV,
 * microsecond times) into the trades topic, one worker until caught up, then `klines --final`: the same
 * klines as `aggregate` prints for the file without Kafka.
 */
import * as path from 'node:path';
import { KafkaResources, expectSuccess, runCli, testKafka, uniqueName } from './helpers';

jest.setTimeout(180_000);

const SAMPLE = path.resolve(__dirname, '../../data/binance/btcusdt-spot-2026-01-01-microseconds/aggtrades.csv');

describe('archive CSV import through the pipeline', () => {
  const resources = new KafkaResources(testKafka(uniqueName('archive-import')));
  const prefix = `${uniqueName('csvimp')}.`;
  const env = { ...process.env, KLINESTREAM_TOPIC_PREFIX: prefix, KLINESTREAM_PARTITIONS: '2', KLINESTREAM_INTERVALS: '1m,5m', KLINESTREAM_LOG_LEVEL: 'warn', KLINESTREAM_MARKET: 'spot' };

  afterAll(async () => {
    const admin = await resources.admin();
    for (const t of (await admin.listTopics()).filter((x) => x.startsWith(prefix))) resources.trackTopic(t);
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
    await resources.cleanup();
  });

  it('produce --symbol, work, klines --final equal aggregate on the same file', async () => {
    const produced = await runCli(['produce', '--source', `file:${SAMPLE}`, '--symbol', 'BTCUSDT'], env);
    expectSuccess(produced);
    expect(produced.stderr).toContain('produce: 5000 trades written');
    expect(produced.stderr).toContain('5000 aggTrade frames, 0 other frames, 0 malformed');
    const noSymbol = await runCli(['produce', '--source', `file:${SAMPLE}`], env);
    expect(noSymbol.code).toBe(2);
    expect(noSymbol.stderr).toMatch(/add --symbol S/);

    expectSuccess(await runCli(['work', '--until-caught-up'], env));
    const [klines, offline] = await Promise.all([
      runCli(['klines', '--final', '--from-beginning', '--exit-at-end', '--format', 'csv'], env),
      runCli(['aggregate', '--source', `file:${SAMPLE}`, '--symbol', 'BTCUSDT', '--intervals', '1m,5m'], env),
    ]);
    expectSuccess(klines);
    expectSuccess(offline);
    const rows = (s: string) => s.trim().split('\n').slice(1).sort();
    expect(rows(offline.stdout).length).toBeGreaterThan(10);
    expect(rows(klines.stdout)).toEqual(rows(offline.stdout));
  });
});
