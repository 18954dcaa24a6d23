/**
 * `klinestream aggregate` as a black box: real frames in, the exchange's klines out; garbage never fatal.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { KLINE_CSV_HEADER } from '../../src/downstream/kline-csv';
import { runCli } from '../support/cli';
import { binanceDataDir } from '../support/data-dir';
import { DATASETS, compareWithExchange, readExchangeKlines, type OurKline } from '../support/exchange-klines';

function parseCsv(stdout: string): Array<OurKline & { symbol: string; interval: string }> {
  const [header, ...rows] = stdout.trim().split('\n');
  expect(header).toBe(KLINE_CSV_HEADER);
  const names = header!.split(',');
  return rows.map((row) => {
    const values = row.split(',');
    const rec: Record<string, string | number> = {};
    names.forEach((n, i) => (rec[n] = n === 'symbol' || n === 'interval' ? values[i]! : Number(values[i])));
    return rec as unknown as OurKline & { symbol: string; interval: string };
  });
}

const framesFile = (dataset: string) => path.join(binanceDataDir(), dataset, 'aggtrade-frames.jsonl.gz');

describe('klinestream aggregate', () => {
  it.each(DATASETS)('reproduces the exchange klines of $dataset $interval', async ({ dataset, interval, partialFirst, expectedMatches }) => {
    const r = await runCli(['aggregate', '--source', `file:${framesFile(dataset)}`, '--intervals', interval, '--format', 'csv']);
    expect(r.stderr).toMatch(/0 malformed/);
    expect(r.code).toBe(0);
    const ours = parseCsv(r.stdout);
    expect(new Set(ours.map((k) => k.interval))).toEqual(new Set([interval]));
    const expected = readExchangeKlines(dataset, interval);
    const from = partialFirst ? expected[1]!.openTime : -Infinity;
    const result = compareWithExchange(expected, ours, from);
    expect(result.mismatches).toEqual([]);
    expect(result.matched).toBe(expectedMatches);
  });

  it('prints every interval by default, in CSV with the exchange column order', async () => {
    const r = await runCli(['aggregate', '--source', `file:${framesFile('btcusdt-usdm-2024-07-18')}`]);
    expect(r.code).toBe(0);
    const ours = parseCsv(r.stdout);
    // 8 minutes around midnight: 1m..30m and 1h..1d close at midnight; 1w and 1M do not.
    expect(new Set(ours.map((k) => k.interval))).toEqual(new Set(['1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d']));
    const day = ours.find((k) => k.interval === '1d')!;
    expect(day.close_time - day.open_time).toBe(86_400_000 - 1);
  });

  it('skips and counts garbage lines, and reports them with line numbers on stderr', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-agg-'));
    try {
      const clean = zlib.gunzipSync(fs.readFileSync(framesFile('btcusdt-usdm-2023-04-04'))).toString().trim().split('\n');
      const garbage = ['not json at all', '{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade"', '{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"abc","q":"1","f":1,"l":1,"T":1,"m":true}', '\u0000\u0001\u0002'];
      const mixed = [...clean.slice(0, 100), ...garbage, ...clean.slice(100)];
      const file = path.join(dir, 'mixed.jsonl');
      fs.writeFileSync(file, mixed.join('\n') + '\n');
      const [withGarbage, withoutGarbage] = await Promise.all([
        runCli(['aggregate', '--source', `file:${file}`, '--intervals', '1m']),
        runCli(['aggregate', '--source', `file:${framesFile('btcusdt-usdm-2023-04-04')}`, '--intervals', '1m']),
      ]);
      expect(withGarbage.code).toBe(0);
      expect(withGarbage.stderr).toMatch(/4 malformed/);
      expect(withGarbage.stderr).toMatch(/"line":101/);
      expect(withGarbage.stderr).toMatch(/not a decimal string/);
      expect(withGarbage.stderr).toMatch(/line 104: .*\\u0000\\u0001\\u0002/);
      expect(withGarbage.stdout).toBe(withoutGarbage.stdout);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [['aggregate'], /--source file:PATH is required/],
    [['aggregate', '--source', 'binance'], /--source must be file:PATH/],
    [['aggregate', '--source', 'file:/x', '--intervals', '7m'], /--intervals: unknown interval "7m"/],
    [['aggregate', '--source', 'file:/x', '--format', 'xml'], /--format must be csv or json/],
    [['aggregate', '--source', 'file:/x', '--bogus'], /Unknown option '--bogus'/],
  ])('exits 2 with a clear message on bad usage: %j', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('exits 1 naming the file when the source cannot be read', async () => {
    const r = await runCli(['aggregate', '--source', 'file:/nonexistent/frames.jsonl']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\/nonexistent\/frames\.jsonl/);
  });
});

describe('klinestream configuration and usage', () => {
  it('rejects a bad setting at startup with exit 2 and a message naming it', async () => {
    const r = await runCli(['aggregate', '--source', `file:${framesFile('btcusdt-usdm-2023-04-04')}`], { KAFKA_BROKERS: ':::' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/KAFKA_BROKERS: expected host:port, got ":::"/);
  });

  it('--help lists the commands and exits 0; an unknown command exits 2', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['stack', 'produce', 'work', 'aggregate', 'klines', 'replay', 'topics', 'run']) expect(help.stdout).toContain(`  ${c}`);
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
  });
});
