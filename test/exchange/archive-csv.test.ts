/**
 * The exchange's archive CSV of aggregate trades: the parser on its own, and `aggregate` as a black box on
 * the real sample (5,000 spot BTCUSDT trades with microsecond times): its klines equal those of the same
 * trades written as WebSocket frames (converted here, independently of the reader: BigInt time division).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createAggTradeRecord, FrameResult } from '../../src/exchange/aggtrade-frame';
import { ArchiveCsvParser, archiveTimeToMs, detectFileFormat, readArchiveCsv } from '../../src/exchange/archive-csv';
import { FrameStats } from '../../src/exchange/frame-stats';
import { runCli } from '../support/cli';
import { binanceDataDir } from '../support/data-dir';

const SAMPLE = () => path.join(binanceDataDir(), 'btcusdt-spot-2026-01-01-microseconds', 'aggtrades.csv');

describe('ArchiveCsvParser', () => {
  const out = createAggTradeRecord();

  it('reads a spot line (8 fields, microseconds, True/False) exactly', () => {
    const p = new ArchiveCsvParser('BTCUSDT');
    expect(p.parse('3800397495,87648.21000000,0.08185000,5723703861,5723703861,1767225600039409,True,True', out)).toBe(FrameResult.OK);
    expect(out).toEqual({
      symbol: 'BTCUSDT', aggId: 3800397495, price: 87648.21, quantity: 0.08185, firstTradeId: 5723703861, lastTradeId: 5723703861,
      tradeTime: 1767225600039, eventTime: 1767225600039, isBuyerMaker: true,
    });
  });

  it('reads a futures line (7 fields, milliseconds, true/false) and skips a header', () => {
    const p = new ArchiveCsvParser('ETHUSDT');
    expect(p.parse('agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker', out)).toBe(FrameResult.NOT_AGGTRADE);
    expect(p.kind).toBe('header');
    expect(p.parse('1,2000.5,3,10,12,1704067200123,false', out)).toBe(FrameResult.OK);
    expect(out).toMatchObject({ symbol: 'ETHUSDT', aggId: 1, price: 2000.5, quantity: 3, firstTradeId: 10, lastTradeId: 12, tradeTime: 1704067200123, isBuyerMaker: false });
  });

  it('converts times by magnitude, exactly (floor), without floating-point division', () => {
    expect(archiveTimeToMs('1704067200123')).toBe(1704067200123);
    expect(archiveTimeToMs('1767225600039999')).toBe(1767225600039);
    expect(archiveTimeToMs('1767225600039999999')).toBe(1767225600039);
    expect(archiveTimeToMs('12a')).toBe(-1);
    expect(archiveTimeToMs('123456789012345678901')).toBe(-1);
  });

  it.each([
    ['1,2,3', /expected 7 or 8/],
    ['x,1,1,1,1,1704067200123,true', /agg_trade_id is not/],
    ['1,-2,1,1,1,1704067200123,true', /price is not a decimal/],
    ['1,0,1,1,1,1704067200123,true', /price must be > 0/],
    ['1,2,1e3,1,1,1704067200123,true', /quantity is not a decimal/],
    ['1,2,1,5,4,1704067200123,true', /first_trade_id 5 > last_trade_id 4/],
    ['1,2,1,1,1,soon,true', /transact_time/],
    ['1,2,1,1,1,1704067200123,maybe', /is_buyer_maker/],
  ])('rejects %j with a reason', (line, reason) => {
    const p = new ArchiveCsvParser('BTCUSDT');
    const before = { ...out };
    expect(p.parse(line, out)).toBe(FrameResult.MALFORMED);
    expect(p.reason).toMatch(reason);
    expect(out).toEqual(before);
  });
});

describe('readArchiveCsv', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-csv-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads the real sample: 5,000 trades, ids in order, times converted from microseconds', async () => {
    const stats = new FrameStats();
    const ids: number[] = [];
    let firstTime = 0;
    for await (const t of readArchiveCsv(SAMPLE(), 'BTCUSDT', stats)) {
      if (ids.length === 0) firstTime = t.tradeTime;
      ids.push(t.aggId);
    }
    expect(ids).toHaveLength(5000);
    expect(ids.every((id, i) => i === 0 || id === ids[i - 1]! + 1)).toBe(true);
    expect(firstTime).toBe(1767225600039);
    expect(stats.malformed).toBe(0);
    expect(await detectFileFormat(SAMPLE())).toBe('archive-csv');
  });

  it('counts bad lines with their line numbers, skips a header, reads gzip', async () => {
    const text = ['agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker', '1,10,1,1,1,1704067200000,true', 'garbage', '', '2,11,1,2,2,1704067201000,false', '3,12,1,3,3,notatime,false'].join('\n');
    const file = path.join(dir, 'mixed.csv.gz');
    fs.writeFileSync(file, zlib.gzipSync(text));
    const stats = new FrameStats();
    const got: number[] = [];
    for await (const t of readArchiveCsv(file, 'BTCUSDT', stats)) got.push(t.aggId);
    expect(got).toEqual([1, 2]);
    expect(stats.malformed).toBe(2);
    expect(stats.headerLines).toBe(1);
    expect(stats.blankLines).toBe(1);
    expect(stats.examples.map((e) => e.lineNo)).toEqual([3, 6]);
    expect(stats.summary()).toContain('line 3: expected 7 or 8');
    expect(await detectFileFormat(file)).toBe('archive-csv');
  });
});

describe('aggregate on an archive CSV', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-csv-agg-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The CSV rows as combined-stream frames, times divided by 1000 with BigInt. */
  function framesOf(csv: string): string {
    return csv.trim().split('\n').map((row) => {
      const [a, p, q, f, l, t, m] = row.split(',');
      const ms = Number(BigInt(t!) / 1000n);
      return JSON.stringify({ stream: 'btcusdt@aggTrade', data: { e: 'aggTrade', E: ms, s: 'BTCUSDT', a: Number(a), p, q, f: Number(f), l: Number(l), T: ms, m: m === 'True' } });
    }).join('\n') + '\n';
  }

  it('prints the same klines as the same trades given as frames', async () => {
    const frames = path.join(dir, 'frames.jsonl');
    fs.writeFileSync(frames, framesOf(fs.readFileSync(SAMPLE(), 'utf8')));
    const [fromCsv, fromFrames] = await Promise.all([
      runCli(['aggregate', '--source', `file:${SAMPLE()}`, '--symbol', 'BTCUSDT', '--intervals', '1m,5m,15m']),
      runCli(['aggregate', '--source', `file:${frames}`, '--intervals', '1m,5m,15m']),
    ]);
    expect(fromCsv.code).toBe(0);
    expect(fromFrames.code).toBe(0);
    expect(fromCsv.stdout.split('\n').length).toBeGreaterThan(10);
    expect(fromCsv.stdout).toBe(fromFrames.stdout);
    expect(fromCsv.stderr).toContain('5000 trades applied');
    expect(fromCsv.stderr).toContain('0 malformed');
  });

  it('needs --symbol for an archive CSV and refuses it for frames (exit 2)', async () => {
    const noSymbol = await runCli(['aggregate', '--source', `file:${SAMPLE()}`]);
    expect(noSymbol.code).toBe(2);
    expect(noSymbol.stderr).toMatch(/archive CSV .* add --symbol S/);
    const frames = path.join(dir, 'one.jsonl');
    fs.writeFileSync(frames, framesOf('1,10,1,1,1,1704067200000000,True'));
    const withSymbol = await runCli(['aggregate', '--source', `file:${frames}`, '--symbol', 'BTCUSDT']);
    expect(withSymbol.code).toBe(2);
    expect(withSymbol.stderr).toMatch(/--symbol is for archive CSV files/);
  });
});
