/**
 * The stand-in's klines endpoint: built from its released trades, they equal the exchange's own klines of the
 * same real data (USD-M BTCUSDT all 12 columns; spot XRPETH OHLCV including minutes without trades), take
 * startTime / endTime / limit as the exchange does, carry the endpoint's weight, serve bundled klines
 * verbatim, and disagree on exactly one trade when told to.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { binanceDataDir } from './data-dir';
import { ExchangeStandin, type ExchangeStandinOptions } from './exchange-standin';

jest.setTimeout(60_000);

const DATA = binanceDataDir();
const BTC24 = path.join(DATA, 'btcusdt-usdm-2024-07-18/aggtrade-frames.jsonl.gz');
const BTC24_KLINES = path.join(DATA, 'btcusdt-usdm-2024-07-18/klines-1m.csv');
const XRP = path.join(DATA, 'xrpeth-spot-2019-10-11/aggtrade-frames.jsonl.gz');
const MINUTE = 60_000;

type Row = [number, string, string, string, string, string, number, string, number, string, string, string];

const standins: ExchangeStandin[] = [];

/** A stand-in that has released its whole timeline. */
async function played(options: ExchangeStandinOptions): Promise<ExchangeStandin> {
  const ex = await ExchangeStandin.start({ speed: 'max', ...options });
  standins.push(ex);
  ex.play();
  await ex.finished;
  return ex;
}

afterEach(async () => {
  await Promise.all(standins.splice(0).map((s) => s.close()));
});

async function get(ex: ExchangeStandin, market: 'usdm' | 'spot', query: Record<string, string | number>): Promise<{ status: number; weight: number; json: unknown }> {
  const prefix = market === 'usdm' ? '/fapi/v1' : '/api/v3';
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
  const res = await fetch(`${ex.restBaseUrl}${prefix}/klines?${qs}`);
  return { status: res.status, weight: Number(res.headers.get('x-mbx-used-weight-1m')), json: await res.json() };
}

function csvRows(file: string): string[][] {
  return fs.readFileSync(file, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
}

describe('klines built from the trades equal the exchange\'s own', () => {
  it('USD-M BTCUSDT: every fully covered minute, all 12 columns, byte for byte', async () => {
    const ex = await played({ files: [BTC24] });
    const expected = csvRows(BTC24_KLINES);
    const { status, json } = await get(ex, 'usdm', { symbol: 'BTCUSDT', interval: '1m', startTime: Number(expected[0]![0]), limit: 1500 });
    expect(status).toBe(200);
    const rows = json as Row[];
    const byOpen = new Map(rows.map((r) => [r[0], r]));
    // The first minute begins before the recording and the last is not closed by a later trade.
    const inner = expected.slice(1, -1);
    expect(inner.length).toBeGreaterThanOrEqual(6);
    for (const e of inner) {
      const r = byOpen.get(Number(e[0]));
      expect(r).toBeDefined();
      expect(r!.map(String)).toEqual(e);
    }
    // The exchange's types: numbers for times and count, strings for every decimal.
    expect(rows[1]!.map((v) => typeof v)).toEqual(['number', 'string', 'string', 'string', 'string', 'string', 'number', 'string', 'number', 'string', 'string', 'string']);
  });

  it('spot XRPETH: 1m and 5m OHLCV of the whole span, minutes without trades included, 8 decimals', async () => {
    const ex = await played({ files: [XRP], market: 'spot' });
    for (const interval of ['1m', '5m']) {
      const expected = csvRows(path.join(DATA, `xrpeth-spot-2019-10-11/klines-${interval}.csv`)).slice(0, -1);
      const rows: Row[] = [];
      let start = Number(expected[0]![0]);
      for (;;) {
        const page = (await get(ex, 'spot', { symbol: 'XRPETH', interval, startTime: start, limit: 1000 })).json as Row[];
        rows.push(...page);
        if (page.length < 1000) break;
        start = page[page.length - 1]![0] + 1;
      }
      const byOpen = new Map(rows.map((r) => [r[0], r]));
      let empty = 0;
      for (const e of expected) {
        const r = byOpen.get(Number(e[0]))!;
        expect([r[0], Number(r[1]), Number(r[2]), Number(r[3]), Number(r[4]), Number(r[5]), r[6]]).toEqual(e.map(Number));
        expect(r[1]).toMatch(/^[0-9]+\.[0-9]{8}$/);
        if (r[8] === 0) empty++;
      }
      if (interval === '1m') expect(empty).toBeGreaterThan(1000);
    }
  });
});

describe('parameters, weight and errors as the exchange takes them', () => {
  it('startTime / endTime select by open time; endTime only gives the last ones; limit defaults to 500 and stops at 1500', async () => {
    const ex = await played({ files: [XRP], market: 'usdm' });
    const first = Number(csvRows(path.join(DATA, 'xrpeth-spot-2019-10-11/klines-1m.csv'))[0]![0]);
    const opens = async (q: Record<string, number | string>): Promise<number[]> => ((await get(ex, 'usdm', { symbol: 'XRPETH', interval: '1m', ...q })).json as Row[]).map((r) => r[0]);
    // A startTime inside a minute starts at the next open.
    expect(await opens({ startTime: first + 1, endTime: first + 3 * MINUTE })).toEqual([first + MINUTE, first + 2 * MINUTE, first + 3 * MINUTE]);
    expect(await opens({ endTime: first + 2 * MINUTE + 5, limit: 2 })).toEqual([first + MINUTE, first + 2 * MINUTE]);
    expect(await opens({ startTime: 0, limit: 2 })).toEqual([first, first + MINUTE]);
    expect((await opens({ startTime: first })).length).toBe(500);
    expect((await opens({ startTime: first, limit: 5000 })).length).toBe(1500);
    // Neither: the most recent, ending with the current (open) kline of the server time.
    const recent = await opens({ limit: 3 });
    expect(recent[2]).toBe(Math.floor(ex.serverTime() / MINUTE) * MINUTE);
    expect(recent[1]).toBe(recent[2]! - MINUTE);
  });

  it('weights: USD-M by limit (1, 2, 5, 10), spot 2, counted in X-MBX-USED-WEIGHT-1M', async () => {
    const now = 1_000 * MINUTE;
    const ex = await played({ files: [BTC24], rest: { now: () => now } });
    const used: number[] = [];
    for (const limit of [99, 100, 499, undefined, 1000, 1001]) {
      used.push((await get(ex, 'usdm', { symbol: 'BTCUSDT', interval: '1m', ...(limit === undefined ? {} : { limit }) })).weight);
    }
    expect(used).toEqual([1, 3, 5, 10, 15, 25]);
    const spot = await played({ files: [XRP], market: 'spot', rest: { now: () => now } });
    expect((await get(spot, 'spot', { symbol: 'XRPETH', interval: '1h', limit: 1000 })).weight).toBe(2);
    expect((await get(spot, 'spot', { symbol: 'XRPETH', interval: '1h', limit: 5 })).weight).toBe(4);
  });

  it('errors: missing or unknown interval, unknown symbol, start after end, bad limit', async () => {
    const ex = await played({ files: [BTC24] });
    expect(await get(ex, 'usdm', { symbol: 'BTCUSDT' })).toMatchObject({ status: 400, json: { code: -1102 } });
    expect(await get(ex, 'usdm', { symbol: 'BTCUSDT', interval: '7m' })).toMatchObject({ status: 400, json: { code: -1120, msg: 'Invalid interval.' } });
    expect(await get(ex, 'usdm', { symbol: 'NOPEUSDT', interval: '1m' })).toMatchObject({ status: 400, json: { code: -1121 } });
    expect(await get(ex, 'usdm', { symbol: 'BTCUSDT', interval: '1m', startTime: 2, endTime: 1 })).toMatchObject({ status: 400, json: { code: -1023 } });
    expect(await get(ex, 'usdm', { symbol: 'BTCUSDT', interval: '1m', limit: 0 })).toMatchObject({ status: 400, json: { code: -1100 } });
    expect(ex.requests().filter((r) => r.endpoint === 'klines')).toHaveLength(5);
  });
});

describe('bundled klines and disagreement', () => {
  it('serves the bundled klines verbatim, moved with the timeline', async () => {
    const ex = await played({ files: [BTC24], shiftTo: Date.UTC(2030, 0, 1), bundledKlines: [{ path: BTC24_KLINES, symbol: 'BTCUSDT', interval: '1m' }] });
    const expected = csvRows(BTC24_KLINES);
    const shift = ex.timelineInfo.files[0]!.shiftMs;
    expect(shift % 86_400_000).toBe(0);
    expect(shift).toBeGreaterThan(0);
    const rows = (await get(ex, 'usdm', { symbol: 'BTCUSDT', interval: '1m', startTime: 0 })).json as Row[];
    expect(rows.map((r) => [r[0] - shift, ...r.slice(1, 6), r[6] - shift, ...r.slice(7)].map(String))).toEqual(expected);
  });

  it('disagreeKlines: exactly the kline holding the phantom trade differs, in count, volume and quote volume only', async () => {
    const honest = await played({ files: [BTC24] });
    const start = honest.timelineInfo.start;
    const offset = 3 * MINUTE + 10_000 - (start % MINUTE);
    const liar = await played({ files: [BTC24], trouble: { disagreeKlines: { symbol: 'BTCUSDT', atOffsetMs: offset } } });
    for (const interval of ['1m', '5m']) {
      const q = { symbol: 'BTCUSDT', interval, startTime: 0 };
      const a = (await get(honest, 'usdm', q)).json as Row[];
      const b = (await get(liar, 'usdm', q)).json as Row[];
      expect(b.length).toBe(a.length);
      const diffs: string[] = [];
      a.forEach((r, i) => r.forEach((v, c) => {
        if (b[i]![c] !== v) diffs.push(`${r[0]}:${c}`);
      }));
      const open = Math.floor((start + offset) / (interval === '1m' ? MINUTE : 5 * MINUTE)) * (interval === '1m' ? MINUTE : 5 * MINUTE);
      // Columns 5 volume, 7 quote volume, 8 count.
      expect(diffs).toEqual([`${open}:5`, `${open}:7`, `${open}:8`]);
      const i = a.findIndex((r) => r[0] === open);
      expect(b[i]![8]).toBe(a[i]![8] + 1);
      expect(Math.round((Number(b[i]![5]) - Number(a[i]![5])) * 1000)).toBe(1);
    }
  });
});
