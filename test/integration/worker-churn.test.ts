/**
 * Rebalance churn (issue 14): two workers stay while a third joins and leaves again and again as the
 * producer writes, each time at a random moment after it got partitions, leaving by SIGTERM (it flushes,
 * commits and leaves the group) or by kill -9 (its partitions move when its session times out). Under both
 * guarantees the final klines equal `aggregate` of the same frames, field for field; under exactly-once a
 * read_committed reader sees no (symbol, interval, openTime, version) twice.
 *
 * The moments come from a seeded generator whose seed is in the test's name, so a failure can be replayed
 * with KLINESTREAM_TEST_CHURN_SEED.
 */
import * as fs from 'node:fs';
import type { Kline } from '../../src/codec/records';
import { mergedFrames, type MergedFrames } from '../support/multi-symbol-frames';
import {
  allKlineRecords, aggregateFinals, appEnv, appPrefix, deleteApp, finalsOf, groupLag, killAll, klineKey, sortKlines, startCli, stopWithin, waitFor,
  withProcessLogs, type Running,
} from './pipeline-helpers';

const SEED = Number(process.env.KLINESTREAM_TEST_CHURN_SEED ?? Date.now() % 100_000);
/** Joins and leaves of the third worker (at least; it goes on until the producer is done). */
const CYCLES = 6;

let frames: MergedFrames;
let expected: Kline[];
const prefixes: string[] = [];
const processes: Running[] = [];

beforeAll(async () => {
  frames = mergedFrames(2, Infinity, ['btcusdt-usdm-2023-04-04', 'btcusdt-usdm-2024-07-18', 'btcusdt-usdm-2024-08-08']);
  expected = await aggregateFinals(frames.file);
}, 60_000);

afterAll(async () => {
  await killAll(processes);
  await Promise.all(prefixes.map((p) => deleteApp(p)));
  fs.rmSync(frames.dir, { recursive: true, force: true });
});

/** xorshift32 in [0, 1). */
function generator(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

async function churn(guarantee: 'at-least-once' | 'exactly-once', seed: number): Promise<{ prefix: string; cycles: string[] }> {
  const prefix = appPrefix(`churn-${guarantee}`);
  prefixes.push(prefix);
  const env = appEnv(prefix, { KLINESTREAM_PARTITIONS: '6', KLINESTREAM_GUARANTEE: guarantee });
  const random = generator(seed);
  const producer = startCli(['produce', '--source', `file:${frames.file}`, '--speed', '20x'], env);
  const stable = [startCli(['work'], env), startCli(['work'], env)];
  processes.push(producer, ...stable);
  const cycles: string[] = [];
  await withProcessLogs([producer, ...stable], async () => {
    for (let i = 0; i < CYCLES || producer.child.exitCode === null; i++) {
      // The third worker logs at info so that its assignment can be seen.
      const third = startCli(['work'], { ...env, KLINESTREAM_LOG_LEVEL: 'info' });
      processes.push(third);
      await withProcessLogs([third], () => waitFor(`worker 3 (cycle ${i}) to get partitions`, () => /"partitions assigned".*"partitions":\[\d/.test(third.stderr), 60_000, 50));
      // The random moment: up to 3 s after its assignment, mid-restore, mid-batch or mid-flush.
      const delayMs = Math.floor(random() * 3000);
      await new Promise((r) => setTimeout(r, delayMs));
      const how = random() < 0.5 ? 'SIGTERM' : 'SIGKILL';
      third.child.kill(how);
      const exit = await third.exited;
      cycles.push(`${how} after ${delayMs} ms`);
      if (how === 'SIGTERM') expect({ cycle: i, code: exit.code, stderr: exit.code === 0 ? '' : third.stderr.slice(-3000) }).toEqual({ cycle: i, code: 0, stderr: '' });
    }
    expect((await producer.exited).code).toBe(0);
    await waitFor('the two workers to catch up', async () => (await groupLag(prefix)) === 0, 120_000, 500);
    expect((await stopWithin(stable)).map((e) => e.code)).toEqual([0, 0]);
  });
  expect(sortKlines(await finalsOf(env))).toEqual(expected);
  return { prefix, cycles };
}

it(`at-least-once: a third worker joining and leaving ${CYCLES}+ times changes no final kline (seed ${SEED})`, async () => {
  const { cycles } = await churn('at-least-once', SEED);
  process.stdout.write(`churn (at-least-once, seed ${SEED}): ${cycles.join('; ')}\n`);
}, 600_000);

it(`exactly-once: the same churn, and no version of a kline is seen twice (seed ${SEED + 1})`, async () => {
  const { prefix, cycles } = await churn('exactly-once', SEED + 1);
  process.stdout.write(`churn (exactly-once, seed ${SEED + 1}): ${cycles.join('; ')}\n`);
  const seen = new Set<string>();
  const twice: string[] = [];
  for (const k of await allKlineRecords(`${prefix}klines`)) {
    const key = `${klineKey(k)}|${k.version}`;
    if (seen.has(key)) twice.push(key);
    seen.add(key);
  }
  expect(twice).toEqual([]);
}, 600_000);
