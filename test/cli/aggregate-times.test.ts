/**
 * `klinestream aggregate` and implausible times (docs/times.md, issue 15 point 1): one BTCUSDT trade whose
 * T and E are in microseconds among millisecond trades printed millions of empty klines before; now it is a
 * malformed frame, the run ends in seconds and the finals are those of the input without that trade. A file
 * whose times are all microseconds is read as such.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { runCli } from '../support/cli';
import { binanceDataDir } from '../support/data-dir';

const FRAMES = path.join(binanceDataDir(), 'btcusdt-usdm-2023-04-04', 'aggtrade-frames.jsonl.gz');
const micro = (line: string) => line.replace(/"([TE])":(\d+)/g, (_m, k: string, v: string) => `"${k}":${v}000`);

let dir: string;
let lines: string[];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-agg-times-'));
  lines = zlib.gunzipSync(fs.readFileSync(FRAMES)).toString().trim().split('\n');
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, content: string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content.join('\n') + '\n');
  return file;
}

describe('klinestream aggregate: times', () => {
  it.each([
    ['in the middle', () => Math.floor(lines.length / 2)],
    ['on the first line', () => 0],
  ])('one microsecond trade among millisecond ones (%s) is rejected; the finals equal those of the file without it', async (_where, at) => {
    const i = at();
    const withMicro = write(`micro-${i}.jsonl`, [...lines.slice(0, i), micro(lines[i]!), ...lines.slice(i + 1)]);
    const without = write(`without-${i}.jsonl`, [...lines.slice(0, i), ...lines.slice(i + 1)]);
    const started = Date.now();
    const a = await runCli(['aggregate', '--source', `file:${withMicro}`], {}, 30_000);
    const elapsed = Date.now() - started;
    const b = await runCli(['aggregate', '--source', `file:${without}`], {}, 30_000);
    expect({ code: a.code, elapsedUnder10s: elapsed < 10_000 }).toEqual({ code: 0, elapsedUnder10s: true });
    expect(b.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout.split('\n').length).toBeGreaterThan(20);
    expect(a.stderr).toMatch(/0 late, 0 invalid/);
    expect(a.stderr).toMatch(/1 malformed/);
    expect(a.stderr).toContain(`line ${i + 1}: time unit: trade time T`);
  });

  it('a file whose times are all microseconds gives the klines of the same file in milliseconds', async () => {
    const ms = write('ms.jsonl', lines);
    const us = write('us.jsonl', lines.map(micro));
    const [a, b] = [await runCli(['aggregate', '--source', `file:${ms}`]), await runCli(['aggregate', '--source', `file:${us}`])];
    expect(b.code).toBe(0);
    expect(b.stderr).toMatch(/ 0 malformed/);
    expect(b.stdout).toBe(a.stdout);
  });

  it('a trade far from its event time, or before 2017, is a malformed frame with its reason', async () => {
    const i = 100;
    const skewed = lines[i]!.replace(/"T":(\d+)/, (_m, v: string) => `"T":${Number(v) - 3_600_000}`);
    const ancient = lines[i + 1]!.replace(/"([TE])":(\d+)/g, (_m, k: string) => `"${k}":1000`);
    const file = write('skew.jsonl', [...lines.slice(0, i), skewed, ancient, ...lines.slice(i + 2)]);
    const r = await runCli(['aggregate', '--source', `file:${file}`, '--intervals', '1m']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/2 malformed/);
    expect(r.stderr).toMatch(/is 36000\d\d ms before its event time/);
    expect(r.stderr).toMatch(/is outside 2017-01-01T00:00:00.000Z .. 2100-01-01T00:00:00.000Z in any unit/);
    expect(r.stderr).toMatch(/0 late, 0 invalid/);
  });
});
