/**
 * The broker stopped and restarted mid-stream (a private broker; the schema registry is the shared one):
 * the producer and two workers recover by themselves, and the final klines are those of `aggregate` of the
 * same frames, field for field.
 */
import * as fs from 'node:fs';
import type { Kline } from '../../src/codec/records';
import { mergedFrames, type MergedFrames } from '../support/multi-symbol-frames';
import { runCli, testConnection } from './helpers';
import { appEnv, appPrefix, expectOk, finalsOf, killAll, sortKlines, startCli, stopWithin, waitFor, withProcessLogs, type Running } from './pipeline-helpers';
import { PrivateKafka } from './private-kafka';

let kafka: PrivateKafka;
let frames: MergedFrames;
const processes: Running[] = [];

beforeAll(async () => {
  frames = mergedFrames(2, Infinity, ['btcusdt-usdm-2023-04-04', 'btcusdt-usdm-2024-07-18', 'btcusdt-usdm-2024-08-08']);
  kafka = await PrivateKafka.start();
}, 180_000);

afterAll(async () => {
  await killAll(processes);
  await kafka?.destroy();
  fs.rmSync(frames.dir, { recursive: true, force: true });
});

it('a broker restart in the middle of the stream changes no final kline', async () => {
  const env = appEnv(appPrefix('broker-restart'), {
    KAFKA_BROKERS: kafka.brokers,
    SCHEMA_REGISTRY_URL: testConnection().schemaRegistryUrl,
    KLINESTREAM_PARTITIONS: '4',
  });
  const producer = startCli(['produce', '--source', `file:${frames.file}`, '--speed', '30x'], env);
  const workers = [startCli(['work'], env), startCli(['work'], env)];
  processes.push(producer, ...workers);
  await withProcessLogs(processes, async () => {
  // Once klines are flowing, take the broker away for a while.
  // Every poll is bounded (60 s per CLI call), so that a hang is reported with the processes' logs.
  await waitFor('klines to be published', async () => (await runCli(['klines', '--from-beginning', '--exit-at-end'], env, 60_000)).stdout.length > 0, 90_000, 500);
  await kafka.down();
  await waitFor('the producer and a worker to notice', () => /Kafka still unavailable|transaction failed/.test(producer.stderr) && workers.some((w) => /flush failed|Connection error|ECONNREFUSED/.test(w.stderr)), 60_000);
  await kafka.up();
  await waitFor('the producer to write everything and exit', () => producer.child.exitCode !== null, 120_000);
  const exit = await producer.exited;
  expect({ code: exit.code, stderr: exit.code === 0 ? '' : producer.stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });
  await waitFor('the workers to catch up', async () => {
    const r = await runCli(['topics', 'describe'], env, 60_000);
    return /total lag of the worker group: 0$/m.test(r.stdout);
  }, 120_000, 1000);
  expect((await stopWithin(workers)).map((e) => e.code)).toEqual([0, 0]);
  });

  const offline = await expectOk(runCli(['aggregate', '--source', `file:${frames.file}`, '--format', 'json']), 'aggregate');
  const expected = sortKlines(offline.stdout.trim().split('\n').map((l) => JSON.parse(l) as Kline));
  expect(sortKlines(await finalsOf(env))).toEqual(expected);
}, 600_000);
