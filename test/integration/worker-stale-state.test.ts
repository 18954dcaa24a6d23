/**
 * A stale state record written after a newer one (issue 14): a writer that lost its partition (a delayed
 * flush of a revoked worker) may append an older state of a symbol after the new owner's. Restore keeps,
 * per symbol, the newest state by its stamp (placement epoch, input offset), not the last in log order.
 *
 * The stream comes in three parts. After the first two (each consumed by its own `work --until-caught-up`,
 * so a symbol that trades in both has two state records or more), its oldest state record is appended again at
 * the end of `kline-state`, as the delayed writer would. A worker that restored by log order would resume
 * from the first part's state at the second part's committed offset and lose the second part's trades; the
 * finals after the third part equal `aggregate` of the whole stream, field for field.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { IHeaders, KafkaMessage } from 'kafkajs';
import type { Kline } from '../../src/codec/records';
import { mergedFrames, type MergedFrames } from '../support/multi-symbol-frames';
import { runCli, testKafka, uniqueName } from './helpers';
import { aggregateFinals, appEnv, appPrefix, deleteApp, expectOk, finalsOf, sortKlines } from './pipeline-helpers';

let frames: MergedFrames;
let parts: string[];
let expected: Kline[];
const prefix = appPrefix('stale-state');

/** Splits the frames file in three at trade-time boundaries (no time is cut in two). */
function splitFrames(f: MergedFrames): string[] {
  const lines = fs.readFileSync(f.file, 'utf8').trim().split('\n');
  const timeOf = (l: string) => (JSON.parse(l) as { data: { T: number } }).data.T;
  const cuts: number[] = [];
  for (const third of [1, 2]) {
    let i = Math.floor((lines.length * third) / 3);
    while (i < lines.length && timeOf(lines[i]!) === timeOf(lines[i - 1]!)) i++;
    cuts.push(i);
  }
  const bounds = [0, ...cuts, lines.length];
  return [0, 1, 2].map((k) => {
    const file = path.join(f.dir, `part-${k}.jsonl`);
    fs.writeFileSync(file, lines.slice(bounds[k], bounds[k + 1]).join('\n') + '\n');
    return file;
  });
}

interface RawRecord {
  partition: number;
  key: Buffer;
  value: Buffer | null;
  headers: IHeaders;
}

/** Every record of `topic` as written (read_committed), in partition order. */
async function rawRecords(topic: string): Promise<RawRecord[]> {
  const kafka = testKafka();
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  const remaining = new Map(ends.filter((e) => Number(e.high) > Number(e.low)).map((e) => [e.partition, Number(e.high)]));
  const out: RawRecord[] = [];
  const groupId = uniqueName('read-state');
  if (remaining.size > 0) {
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
        if (Number(e.payload.lastOffset) + 1 >= (remaining.get(e.payload.partition) ?? Infinity)) remaining.delete(e.payload.partition);
        if (remaining.size === 0) resolve();
      });
      consumer.run({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages as KafkaMessage[]) out.push({ partition: batch.partition, key: m.key!, value: m.value, headers: m.headers ?? {} });
        },
      }).catch(reject);
    });
    await consumer.disconnect();
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
  await admin.disconnect();
  return out;
}

beforeAll(async () => {
  frames = mergedFrames(2, Infinity, ['btcusdt-usdm-2023-04-04', 'btcusdt-usdm-2024-07-18', 'btcusdt-usdm-2024-08-08']);
  parts = splitFrames(frames);
  expected = await aggregateFinals(frames.file);
}, 60_000);

afterAll(async () => {
  await deleteApp(prefix);
  fs.rmSync(frames.dir, { recursive: true, force: true });
});

it('a state record appended after a newer one of the same symbol does not win the restore', async () => {
  const env = appEnv(prefix, { KLINESTREAM_PARTITIONS: '3' });
  for (const [k, file] of parts.slice(0, 2).entries()) {
    await expectOk(runCli(['produce', '--source', `file:${file}`], env), `produce part ${k}`);
    await expectOk(runCli(['work', '--until-caught-up'], env), `work after part ${k}`);
  }
  // The delayed writer: each symbol's oldest state record again, after its newer ones.
  const records = (await rawRecords(`${prefix}kline-state`)).filter((r) => r.value !== null);
  const oldest = new Map<string, RawRecord>();
  const count = new Map<string, number>();
  for (const r of records) {
    const key = r.key.toString();
    if (!oldest.has(key)) oldest.set(key, r);
    count.set(key, (count.get(key) ?? 0) + 1);
  }
  const stale = [...oldest.entries()].filter(([key]) => count.get(key)! >= 2).map(([, r]) => r);
  // The symbols that traded in both parts (a symbol silent in the second has one record): most of them.
  expect(stale.length).toBeGreaterThanOrEqual(frames.symbols.length / 2);
  const producer = testKafka().producer();
  await producer.connect();
  await producer.send({ topic: `${prefix}kline-state`, acks: -1, messages: stale.map((r) => ({ partition: r.partition, key: r.key, value: r.value, headers: r.headers })) });
  await producer.disconnect();

  await expectOk(runCli(['produce', '--source', `file:${parts[2]!}`], env), 'produce part 2');
  const last = await expectOk(runCli(['work', '--until-caught-up'], { ...env, KLINESTREAM_LOG_LEVEL: 'info' }), 'work after the stale records');
  expect(last.stderr).toMatch(/"msg":"partition restored from kline-state"/);
  expect(sortKlines(await finalsOf(env))).toEqual(expected);
}, 300_000);
