/**
 * A catch-up larger than any request Kafka accepts (issue 14): 100 symbols, then the whole market silent for
 * 26 hours, then trades again. The first watermark after the silence closes ~260,000 klines at once. The
 * worker publishes them in bounded rounds and requests (KLINESTREAM_FLUSH_MAX_KLINES,
 * KLINESTREAM_PRODUCE_REQUEST_BYTES), `work --until-caught-up` finishes, and the finals equal `aggregate` of
 * the same frames, field for field, under both guarantees. (Before: one record batch per partition, the
 * broker answered MESSAGE_TOO_LARGE and the worker retried forever.)
 */
import * as fs from 'node:fs';
import type { Kline } from '../../src/codec/records';
import { silentMarketFrames, type SilentMarket } from '../support/silent-market-frames';
import { runCli } from './helpers';
import { appEnv, appPrefix, deleteApp, expectOk, finalsOf, sortKlines } from './pipeline-helpers';

let market: SilentMarket;
let expected: Kline[];
const prefixes: string[] = [];

beforeAll(async () => {
  market = silentMarketFrames();
  const offline = await expectOk(runCli(['aggregate', '--source', `file:${market.file}`, '--format', 'json']), 'aggregate');
  expected = sortKlines(offline.stdout.trim().split('\n').map((l) => JSON.parse(l) as Kline));
  expect(expected.length).toBeGreaterThan(250_000);
}, 120_000);

afterAll(async () => {
  await Promise.all(prefixes.map((p) => deleteApp(p)));
  fs.rmSync(market.dir, { recursive: true, force: true });
});

it.each(['at-least-once', 'exactly-once'])('a day-long silence of 100 symbols: work --until-caught-up finishes with the finals of aggregate (%s)', async (guarantee) => {
  const prefix = appPrefix(`catch-up-${guarantee === 'exactly-once' ? 'eos' : 'alo'}`);
  prefixes.push(prefix);
  const env = appEnv(prefix, { KLINESTREAM_PARTITIONS: '2', KLINESTREAM_GUARANTEE: guarantee });
  await expectOk(runCli(['produce', '--source', `file:${market.file}`], env), 'produce');
  const started = Date.now();
  const work = await expectOk(runCli(['work', '--until-caught-up'], env, 240_000), 'work --until-caught-up');
  process.stderr.write(`catch-up (${guarantee}): ${expected.length} finals, work --until-caught-up ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  expect(work.stderr).not.toMatch(/MESSAGE_TOO_LARGE|too large/i);
  const finals = sortKlines(await finalsOf(env)); // klines reads read_committed
  expect(finals.length).toBe(expected.length);
  expect(finals).toEqual(expected);
}, 480_000);

it('exactly-once: a partition rewound while its batch waits for a mid-batch flush resumes from its last transaction: same finals', async () => {
  // A small final queue (a run of empty klines is one entry: the silence takes ~2,800) fills in the middle of
  // the batch that holds the first watermark after the silence. The first flush such a batch waits for
  // fails for the batch's partition: that partition is rewound while the batch is suspended; the batch must
  // stop, not go on into the cleared state.
  const prefix = appPrefix('catch-up-rewind');
  prefixes.push(prefix);
  const env = appEnv(prefix, { KLINESTREAM_PARTITIONS: '2', KLINESTREAM_GUARANTEE: 'exactly-once', KLINESTREAM_FINAL_QUEUE_ENTRIES: '1024' });
  await expectOk(runCli(['produce', '--source', `file:${market.file}`], env), 'produce');
  const work = await expectOk(runCli(['work', '--until-caught-up'], { ...env, KLINESTREAM_TEST_FAULTS: 'publish-mid-batch@1' }, 240_000), 'work --until-caught-up');
  expect(work.stderr).toMatch(/injected fault at publish-mid-batch/);
  expect(work.stderr).toMatch(/partition rewound to its last committed transaction/);
  const finals = sortKlines(await finalsOf(env));
  expect(finals.length).toBe(expected.length); // (a diff of 261,300 klines takes minutes to print)
  expect(finals).toEqual(expected);
}, 480_000);
