/**
 * Exactly-once (SPEC 4, `work --guarantee exactly-once`): the crash test of the workers under Kafka
 * transactions. Three workers on six partitions, a worker killed with kill -9 at random moments (at least
 * five times) and restarted while the producer writes. A read_committed reader of `klines` then sees each
 * (symbol, interval, openTime, version) at most once and every final exactly once, and the finals equal the
 * offline aggregation of the same frames field for field.
 */
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import type { Kline } from '../../src/codec/records';
import { mergedFrames, type MergedFrames } from '../support/multi-symbol-frames';
import { runCli } from './helpers';
import {
  allKlineRecords, appEnv, appPrefix, deleteApp, expectOk, groupLag, killAll, klineKey, sortKlines, startCli, stopWithin, waitFor, withProcessLogs, type Running,
} from './pipeline-helpers';

let frames: MergedFrames;
const prefix = appPrefix('eos');
const processes: Running[] = [];
const env = appEnv(prefix, { KLINESTREAM_PARTITIONS: '6', KLINESTREAM_GUARANTEE: 'exactly-once' });

// Two BTCUSDT recordings, three copies each: six symbols, replayed at 40x while workers are being killed.
const BTC = ['btcusdt-usdm-2023-04-04', 'btcusdt-usdm-2024-07-18'];

beforeAll(() => {
  frames = mergedFrames(3, Infinity, BTC);
});

afterAll(async () => {
  await killAll(processes);
  await deleteApp(prefix);
  fs.rmSync(frames.dir, { recursive: true, force: true });
});

it('kill -9 under exactly-once: read_committed sees every version at most once and every final exactly once', async () => {
  const producer = startCli(['produce', '--source', `file:${frames.file}`, '--speed', '40x'], env);
  processes.push(producer);
  const workers: Running[] = [0, 1, 2].map(() => startCli(['work'], { ...env, KLINESTREAM_LOG_LEVEL: 'info' }));
  processes.push(...workers);
  let kills = 0;
  await withProcessLogs(processes, async () => {
    // Six kills while the producer writes (it takes well over a minute at 40x), then it finishes in peace:
    // killing on until it ends only slowed it down on a loaded machine (each restart is a Node start and a
    // restore on two cores).
    while (kills < 6) {
      await new Promise((r) => setTimeout(r, 300 + randomInt(1500)));
      const i = randomInt(3);
      const victim = workers[i]!;
      victim.child.kill('SIGKILL');
      await victim.exited;
      kills++;
      workers[i] = startCli(['work'], { ...env, KLINESTREAM_LOG_LEVEL: 'info' });
      processes.push(workers[i]!);
    }
    await waitFor('the producer to finish', () => producer.child.exitCode !== null, 240_000, 500);
    expect((await producer.exited).code).toBe(0);
    await waitFor('the group to catch up', async () => (await groupLag(prefix)) === 0, 150_000, 500);
    // A worker restarted by the last kill may still be starting: SIGTERM it once it runs (its handler is set).
    await Promise.all(workers.map((w) => waitFor('the worker to run', () => w.stderr.includes('"msg":"worker running"'), 60_000)));
    expect((await stopWithin(workers)).map((e) => e.code)).toEqual(workers.map(() => 0));
  });
  expect(kills).toBeGreaterThanOrEqual(5);

  // read_committed (the kafkajs default): aborted transactions of the killed workers are invisible.
  const records = await allKlineRecords(`${prefix}klines`);
  const versions = new Map<string, number>();
  const finals = new Map<string, Kline[]>();
  for (const k of records) {
    const v = `${klineKey(k)}|${k.version}`;
    versions.set(v, (versions.get(v) ?? 0) + 1);
    if (k.isFinal) finals.set(klineKey(k), [...(finals.get(klineKey(k)) ?? []), k]);
  }
  const repeatedVersions = [...versions].filter(([, n]) => n > 1).map(([v]) => v);
  expect(repeatedVersions).toEqual([]);
  const repeatedFinals = [...finals].filter(([, ks]) => ks.length !== 1).map(([key]) => key);
  expect(repeatedFinals).toEqual([]);

  // The finals are the offline aggregation's, field for field.
  const offline = await expectOk(runCli(['aggregate', '--source', `file:${frames.file}`, '--format', 'json']), 'aggregate');
  const expected = sortKlines(offline.stdout.trim().split('\n').map((l) => JSON.parse(l) as Kline));
  expect(expected.length).toBeGreaterThan(100);
  expect(sortKlines([...finals.values()].map((ks) => ks[0]!))).toEqual(expected);
}, 480_000);
