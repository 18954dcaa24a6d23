/**
 * Faults at each step of the flush protocol (src/worker/flush.ts), injected into a real worker process with
 * KLINESTREAM_TEST_FAULTS: the kline publish failing, the state publish failing, the commit failing, and the
 * process dying between publish and state, and between state and commit. Nothing is lost, nothing is
 * double-counted (the finals equal `aggregate` of the same frames), and no offset is committed before the
 * klines it covers were delivered.
 */
import * as fs from 'node:fs';
import type { Kline } from '../../src/codec/records';
import { mergedFrames, type MergedFrames } from '../support/multi-symbol-frames';
import { runCli, testKafka } from './helpers';
import {
  allKlineRecords, aggregateFinals, appEnv, appPrefix, deleteApp, expectOk, finalsOf, killAll, klineKey, sortKlines, startCli, waitFor, type Running,
} from './pipeline-helpers';

let frames: MergedFrames;
let expected: Kline[];
const prefixes: string[] = [];
const processes: Running[] = [];

async function app(name: string): Promise<{ prefix: string; env: (extra?: Record<string, string>) => NodeJS.ProcessEnv }> {
  const prefix = appPrefix(name);
  prefixes.push(prefix);
  const env = (extra: Record<string, string> = {}) => appEnv(prefix, { KLINESTREAM_PARTITIONS: '3', ...extra });
  await expectOk(runCli(['produce', '--source', `file:${frames.file}`], env()), `produce ${name}`);
  return { prefix, env };
}

beforeAll(async () => {
  // Three BTCUSDT recordings, two copies each: six symbols over three partitions.
  frames = mergedFrames(2, Infinity, ['btcusdt-usdm-2023-04-04', 'btcusdt-usdm-2024-07-18', 'btcusdt-usdm-2024-08-08']);
  expected = await aggregateFinals(frames.file);
}, 60_000);

afterAll(async () => {
  await killAll(processes);
  await Promise.all(prefixes.map((p) => deleteApp(p)));
  fs.rmSync(frames.dir, { recursive: true, force: true });
});

it('publish, state and commit failures are retried: same finals, the worker keeps going', async () => {
  const { env } = await app('faults-fail');
  const r = await expectOk(runCli(['work', '--until-caught-up'], env({ KLINESTREAM_TEST_FAULTS: 'publish#2,state#2,commit#3' })), 'work with faults');
  expect(r.stderr).toMatch(/injected fault at publish/);
  expect(r.stderr).toMatch(/injected fault at state/);
  expect(r.stderr).toMatch(/injected fault at commit/);
  expect(sortKlines(await finalsOf(env()))).toEqual(expected);
}, 120_000);

it('dying between publish and state, or between state and commit, loses and doubles nothing', async () => {
  const { prefix, env } = await app('faults-die');
  // Deaths at chosen steps of the first flush (the one that is certain to happen: a restored worker may
  // catch up in one flush), each run restoring what the one before left, then a run without faults to the end.
  for (const fault of ['die-after-klines@1', 'die-after-state@1', 'die-after-klines@1']) {
    const r = await runCli(['work', '--until-caught-up'], env({ KLINESTREAM_TEST_FAULTS: fault }));
    expect({ fault, signal: r.code === null, said: /dying at die-after-/.test(r.stderr) }).toEqual({ fault, signal: true, said: true });
  }
  await expectOk(runCli(['work', '--until-caught-up'], env()), 'work after the deaths');
  expect(sortKlines(await finalsOf(env()))).toEqual(expected);
  // Republished records of one version are the same record.
  const seen = new Map<string, Kline>();
  for (const k of await allKlineRecords(`${prefix}klines`)) {
    const key = `${klineKey(k)}|${k.version}`;
    if (seen.has(key)) expect(k).toEqual(seen.get(key));
    else seen.set(key, k);
  }
}, 240_000);

it('no offset is committed while the klines cannot be published; delivery resumes where it stopped', async () => {
  const { prefix, env } = await app('faults-nocommit');
  const stuck = startCli(['work'], env({ KLINESTREAM_TEST_FAULTS: 'publish=1', KLINESTREAM_LOG_LEVEL: 'warn' }));
  processes.push(stuck);
  // It consumed trades and tried to publish them (and keeps retrying).
  await waitFor('the worker to retry a failed flush', () => (stuck.stderr.match(/flush failed/g) ?? []).length >= 3, 60_000);
  const admin = testKafka().admin();
  await admin.connect();
  const offsets = await admin.fetchOffsets({ groupId: `${prefix}klinestream-workers`, topics: [`${prefix}trades`] });
  await admin.disconnect();
  expect(offsets[0]!.partitions.map((p) => p.offset)).toEqual(['-1', '-1', '-1']);
  stuck.child.kill('SIGKILL');
  await stuck.exited;
  await expectOk(runCli(['work', '--until-caught-up'], env()), 'work after the outage');
  expect(sortKlines(await finalsOf(env()))).toEqual(expected);
}, 120_000);
