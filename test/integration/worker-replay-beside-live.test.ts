/**
 * An exactly-once replay beside exactly-once live workers (issue 14): the replay's transactional producers
 * are its group's, not the live group's, so neither fences the other. A replay runs while the producer
 * writes and the live workers commit their transactions, another once the producer is done; no process
 * rewinds or is fenced, the live finals and the second replay's finals both equal `aggregate`.
 */
import * as fs from 'node:fs';
import type { Kline } from '../../src/codec/records';
import { mergedFrames, type MergedFrames } from '../support/multi-symbol-frames';
import { runCli } from './helpers';
import {
  allKlineRecords, aggregateFinals, appEnv, appPrefix, deleteApp, expectOk, finalsFrom, finalsOf, groupLag, killAll, sortKlines, startCli, stopWithin, waitFor, withProcessLogs, type Running,
} from './pipeline-helpers';

let frames: MergedFrames;
let expected: Kline[];
const prefix = appPrefix('replay-beside-live');
const processes: Running[] = [];

beforeAll(async () => {
  frames = mergedFrames(2, Infinity, ['btcusdt-usdm-2023-04-04', 'btcusdt-usdm-2024-07-18', 'btcusdt-usdm-2024-08-08']);
  expected = await aggregateFinals(frames.file);
}, 60_000);

afterAll(async () => {
  await killAll(processes);
  await deleteApp(prefix);
  fs.rmSync(frames.dir, { recursive: true, force: true });
});

const FENCED = /rewound|fenced|ProducerFenced|INVALID_PRODUCER_EPOCH|transaction failed/i;

it('an exactly-once replay and exactly-once live workers do not fence each other; both rebuild the finals of aggregate', async () => {
  const env = appEnv(prefix, { KLINESTREAM_PARTITIONS: '3', KLINESTREAM_GUARANTEE: 'exactly-once' });
  const producer = startCli(['produce', '--source', `file:${frames.file}`, '--speed', '30x'], env);
  const live = [startCli(['work'], env), startCli(['work'], env)];
  processes.push(producer, ...live);
  await withProcessLogs(processes, async () => {
    await waitFor('the live workers to publish klines', async () => (await runCli(['klines', '--from-beginning', '--exit-at-end'], env, 60_000)).stdout.length > 0, 90_000, 500);
    expect(producer.child.exitCode).toBeNull();
    // Beside the live transactions, while trades still arrive (it stops when it has caught up with them).
    const during = await expectOk(runCli(['replay', '--from', 'earliest', '--to-topic', `${prefix}rebuilt-during`], env, 180_000), 'replay during the stream');
    expect(during.stderr).not.toMatch(FENCED);
    expect((await producer.exited).code).toBe(0);
    await waitFor('the live workers to catch up', async () => (await groupLag(prefix)) === 0, 120_000, 500);
    const after = await expectOk(runCli(['replay', '--from', 'earliest', '--to-topic', `${prefix}rebuilt`], env, 180_000), 'replay after the stream');
    expect(after.stderr).not.toMatch(FENCED);
    expect((await stopWithin(live)).map((e) => e.code)).toEqual([0, 0]);
    for (const w of live) expect(w.stderr).not.toMatch(FENCED);
  });
  expect(sortKlines(await finalsOf(env))).toEqual(expected);
  expect(finalsFrom(await allKlineRecords(`${prefix}rebuilt`))).toEqual(expected);
}, 600_000);
