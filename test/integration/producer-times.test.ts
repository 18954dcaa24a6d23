/**
 * Plausible times at the producer's edge, through Kafka (issue 15 point 1, docs/times.md): `produce --source
 * file:` of recorded frames with one BTCUSDT trade whose T and E are in microseconds among millisecond
 * trades writes every other trade and not that one (counted and reported as a bad frame), ends in seconds,
 * and its watermarks stay real times; a file whose times are all microseconds writes the same trades in ms.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ExchangeStandin, StandinTrade } from '../support/exchange-standin';
import { runCli } from './helpers';
import { appPrefix, deleteApp } from './pipeline-helpers';
import { producerEnv } from './support/producer-process';
import { closeStandins, DATA_FILES, startStandin, writeFramesFile } from './support/standin-setup';
import { checkTrades, readContent } from './support/trades-topic';

jest.setTimeout(120_000);

const prefixes: string[] = [];
const dirs: string[] = [];
let ex: ExchangeStandin;
let expected: Map<string, readonly StandinTrade[]>;
let lines: string[];
let dir: string;

const micro = (line: string) => line.replace(/"([TE])":(\d+)/g, (_m, k: string, v: string) => `"${k}":${v}000`);

beforeAll(async () => {
  ex = await startStandin({ files: [{ path: DATA_FILES.usdm5 }, { path: DATA_FILES.btc2024Aug }], speed: 'manual' });
  expected = ex.expectedRecords();
  const frames = writeFramesFile(ex);
  dir = frames.dir;
  dirs.push(dir);
  lines = fs.readFileSync(frames.file, 'utf8').trim().split('\n');
});

afterAll(async () => {
  await closeStandins();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  await Promise.all(prefixes.map((p) => deleteApp(p)));
});

async function produce(name: string, content: string[]): Promise<{ prefix: string; stderr: string; elapsedMs: number }> {
  const prefix = appPrefix(name);
  prefixes.push(prefix);
  const file = path.join(dir, `${name}.jsonl`);
  fs.writeFileSync(file, content.join('\n') + '\n');
  const started = Date.now();
  const r = await runCli(['produce', '--source', `file:${file}`], { ...producerEnv(prefix, ex, { KLINESTREAM_PARTITIONS: '2' }), KLINESTREAM_LOG_LEVEL: 'warn' });
  expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ code: 0, stderr: '' });
  return { prefix, stderr: r.stderr, elapsedMs: Date.now() - started };
}

it('one microsecond BTCUSDT trade among millisecond ones is a bad frame: every other trade is written, that one is not', async () => {
  const i = lines.findIndex((l, k) => k > lines.length / 2 && l.includes('"s":"BTCUSDT"'));
  const bad = JSON.parse(lines[i]!) as { data: { a: number } };
  const { prefix, stderr, elapsedMs } = await produce('producer-times-one', [...lines.slice(0, i), micro(lines[i]!), ...lines.slice(i + 1)]);
  expect(elapsedMs).toBeLessThan(60_000);
  expect(stderr).toMatch(/1 malformed/);
  expect(stderr).toMatch(/time unit: trade time T \d+ is in microseconds, this source sends milliseconds/);
  const content = await readContent(prefix);
  const without = new Map([...expected].map(([s, l]) => [s, s === 'BTCUSDT' ? l.filter((t) => t.aggId !== bad.data.a) : l]));
  expect(checkTrades(content, without, { eventTime: 'exact' })).toEqual([]);
  // Watermarks are real times, never the microsecond trade's year 55,000.
  const last = Math.max(...[...expected.values()].flat().map((t) => t.tradeTime));
  for (const list of content.watermarks) for (const w of list) expect(w.tradeTime).toBeLessThanOrEqual(last);
});

it('a file whose times are all microseconds writes the same trades, in milliseconds', async () => {
  const { prefix, stderr } = await produce('producer-times-us', lines.map(micro));
  expect(stderr).toMatch(/ 0 malformed/);
  expect(checkTrades(await readContent(prefix), expected, { eventTime: 'exact' })).toEqual([]);
});
