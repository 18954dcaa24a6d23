import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { AggTradeFrameParser, FrameResult, createAggTradeRecord, type AggTradeRecord } from '../../src/exchange/aggtrade-frame';
import {
  FrameFileReader,
  checkFrameFile,
  frameStart,
  parseFileSource,
  parseSource,
  readAggTrades,
  type FrameLine,
} from '../../src/exchange/frame-file';
import { FrameStats } from '../../src/exchange/frame-stats';
import { KlinestreamError } from '../../src/errors';
import { binanceDataDir } from '../support/data-dir';

const DATA = binanceDataDir();
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-frames-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function tmpFile(name: string, content: string | Buffer): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, content);
  return p;
}

async function collect(reader: AsyncIterable<FrameLine>): Promise<Array<[number, string]>> {
  const lines: Array<[number, string]> = [];
  for await (const l of reader) lines.push([l.lineNo, l.frame.toString('utf8')]);
  return lines;
}

async function readAll(file: string): Promise<{ stats: FrameStats; trades: AggTradeRecord[] }> {
  const stats = new FrameStats();
  const trades: AggTradeRecord[] = [];
  for await (const t of readAggTrades(file, stats)) trades.push({ ...t });
  return { stats, trades };
}

function frameOf(i: number, symbol = 'BTCUSDT'): string {
  return JSON.stringify({
    stream: `${symbol.toLowerCase()}@aggTrade`,
    data: { e: 'aggTrade', E: 1_700_000_000_000 + i, s: symbol, a: i, p: `${100 + (i % 997)}.${String(i % 100).padStart(2, '0')}`, q: '0.001', f: 2 * i, l: 2 * i + 1, T: 1_700_000_000_000 + i, m: i % 3 === 0 },
  });
}

describe('real exchange data: exact counts per file', () => {
  // [file under shared/data/binance, aggTrade frames, other frames by kind, header lines]
  const cases: Array<[string, number, Record<string, number>, number]> = [
    ['btcusdt-usdm-2023-04-04/aggtrade-frames.jsonl.gz', 12934, {}, 0],
    ['btcusdt-usdm-2024-07-18/aggtrade-frames.jsonl.gz', 10701, {}, 0],
    ['btcusdt-usdm-2024-08-08/aggtrade-frames.jsonl.gz', 21313, {}, 0],
    ['xrpeth-spot-2019-10-11/aggtrade-frames.jsonl.gz', 12477, {}, 0],
    // `@trade` frames with receive timestamps in micro- and nanoseconds: valid frames, not aggTrades.
    ['btcusdt-usdm-2023-04-04/trade-frames-recorded.jsonl.gz', 0, { trade: 12935 }, 0],
    ['btcusdt-usdm-2024-07-18/trade-frames-recorded.jsonl.gz', 0, { trade: 10701 }, 0],
    ['btcusdt-usdm-2024-08-08/trade-frames-recorded.jsonl.gz', 0, { trade: 21313 }, 0],
    // cryptofeed recordings: a `wss://... <-> time` header, then `<receive time>: <frame>` lines.
    ['ws-recordings-2021/spot_6symbols_aggTrade+kline1m_20210417T1636.txt', 24, { kline: 20 }, 1],
    ['ws-recordings-2021/spot_8symbols_aggTrade_20210405T1833.txt', 1240, {}, 1],
    ['ws-recordings-2021/spot_BTCUSDT-ETHUSDT-DOTUSDT_aggTrade+kline1m_20210404T2003.txt', 1910, { kline: 118 }, 1],
    ['ws-recordings-2021/usdm_5symbols_aggTrade_20210405T1836.txt', 574, {}, 1],
    ['ws-recordings-2021/usdm_DENT-KSM-XMR-YFI_aggTrade+kline1m_20210417T1637.txt', 185, { kline: 99 }, 1],
    ['ws-recordings-2021/usdm_SUSHI-AKRO-KEEP-CTK_aggTrade+kline1m_20210722T2225.txt', 91, { kline: 67 }, 1],
  ];

  test('every frames file in the data folder is covered by this table', () => {
    const found: string[] = [];
    for (const dir of fs.readdirSync(DATA)) {
      const full = path.join(DATA, dir);
      if (!fs.statSync(full).isDirectory()) continue;
      for (const f of fs.readdirSync(full)) if (/\.(jsonl\.gz|txt)$/.test(f)) found.push(`${dir}/${f}`);
    }
    expect(found.sort()).toEqual(cases.map((c) => c[0]).sort());
  });

  test.each(cases)('%s', async (file, aggTrades, others, headers) => {
    const full = path.join(DATA, file);
    const { stats, trades } = await readAll(full);
    expect(stats.malformed).toBe(0);
    expect(stats.examples).toEqual([]);
    expect(stats.ok).toBe(aggTrades);
    expect(Object.fromEntries(stats.otherKinds)).toEqual(others);
    expect(stats.headerLines).toBe(headers);
    expect(stats.blankLines).toBe(0);
    expect(trades).toHaveLength(aggTrades);

    // Independent check of every line: decompress whole, split, JSON.parse, compare field by field.
    const raw = fs.readFileSync(full);
    const text = (raw[0] === 0x1f && raw[1] === 0x8b ? zlib.gunzipSync(raw) : raw).toString('utf8');
    const expected: AggTradeRecord[] = [];
    for (const line of text.split('\n')) {
      const brace = line.indexOf('{');
      if (brace < 0) continue;
      const msg = JSON.parse(line.slice(brace)) as { data: Record<string, unknown> };
      const d = msg.data;
      if (d.e !== 'aggTrade') continue;
      expected.push({
        symbol: d.s as string, aggId: d.a as number, firstTradeId: d.f as number, lastTradeId: d.l as number,
        price: Number(d.p), quantity: Number(d.q), tradeTime: d.T as number, eventTime: d.E as number, isBuyerMaker: d.m as boolean,
      });
    }
    expect(trades).toEqual(expected);
  });

  test('known values: first trade of btcusdt-usdm-2023-04-04 and of a 2021 spot recording', async () => {
    const a = await readAll(path.join(DATA, 'btcusdt-usdm-2023-04-04/aggtrade-frames.jsonl.gz'));
    expect(a.trades[0]).toEqual({
      symbol: 'BTCUSDT', aggId: 3535186032, firstTradeId: 3535186032, lastTradeId: 3535186032, price: 28145.1,
      quantity: 0.002, tradeTime: 1680652700452, eventTime: 1680652700455, isBuyerMaker: true,
    });
    const b = await readAll(path.join(DATA, 'ws-recordings-2021/spot_BTCUSDT-ETHUSDT-DOTUSDT_aggTrade+kline1m_20210404T2003.txt'));
    expect(b.trades[0]).toEqual({
      symbol: 'BTCUSDT', aggId: 665076760, firstTradeId: 745522877, lastTradeId: 745522877, price: 58001.03,
      quantity: 0.086205, tradeTime: 1617566591314, eventTime: 1617566591315, isBuyerMaker: true,
    });
    expect(new Set(b.trades.map((t) => t.symbol))).toEqual(new Set(['BTCUSDT', 'ETHUSDT', 'DOTUSDT']));
  });

  test('xrpeth: aggregate ids are contiguous, so no line was lost or doubled by the chunked reader', async () => {
    const { trades } = await readAll(path.join(DATA, 'xrpeth-spot-2019-10-11/aggtrade-frames.jsonl.gz'));
    for (let i = 1; i < trades.length; i++) expect(trades[i]!.aggId - trades[i - 1]!.aggId).toBe(1);
  });
});

describe('frameStart: receive-timestamp prefixes', () => {
  const f = '{"x":1}';
  const cases: Array<[string, string, string]> = [
    ['epoch seconds with fraction and colon (cryptofeed)', `1617566592.629139: ${f}`, f],
    ['epoch microseconds and a space (hftbacktest)', `1680652700441533 ${f}`, f],
    ['epoch nanoseconds and a space', `1721347021434994132 ${f}`, f],
    ['colon without a space', `1617566592.629139:${f}`, f],
    ['comma separator', `1617566592,${f}`, f],
    ['tab separator', `1617566592\t${f}`, f],
    ['array frame after a timestamp', '1617566592 [1]', '[1]'],
    ['no prefix', f, f],
    ['digits glued to the brace are not a timestamp', `123${f}`, `123${f}`],
    ['dot without fraction', `12.: ${f}`, `12.: ${f}`],
    ['ISO time is not stripped', `2021-04-04T20:03:12Z ${f}`, `2021-04-04T20:03:12Z ${f}`],
    ['words are not stripped', `recv: ${f}`, `recv: ${f}`],
    ['a timestamp alone', '1617566592.629139:', '1617566592.629139:'],
  ];
  test.each(cases)('%s', (_name, line, frame) => {
    const b = Buffer.from(line);
    expect(b.subarray(frameStart(b, 0, b.length)).toString()).toBe(frame);
  });
});

describe('FrameFileReader', () => {
  const mixed = [
    '\ufeffwss://stream.binance.com:9443/stream?streams=btcusdt@aggTrade <-> 1617566590.378895', // 1: BOM + header
    `1617566592.629139: ${frameOf(1)}`, // 2
    '', // 3
    `1680652700441533 ${frameOf(2)}\r`, // 4: CRLF
    '   \t', // 5: blank
    `  ${frameOf(3)}  `, // 6: surrounding blanks
    `garbage ${frameOf(4)}`, // 7: not a timestamp: kept whole
    frameOf(5), // 8: no trailing newline
  ].join('\n');
  const expectedLines: Array<[number, string]> = [
    [2, frameOf(1)], [4, frameOf(2)], [6, frameOf(3)], [7, `garbage ${frameOf(4)}`], [8, frameOf(5)],
  ];

  test('strips timestamps, blanks, CR and BOM; skips and counts blank and header lines; keeps physical line numbers', async () => {
    const reader = new FrameFileReader(tmpFile('mixed.txt', mixed));
    expect(await collect(reader)).toEqual(expectedLines);
    expect(reader.gzip).toBe(false);
    expect(reader).toMatchObject({ lines: 8, blankLines: 2, headerLines: 1 });
  });

  test('gzip is detected by magic bytes, not by the name', async () => {
    const gzippedAsTxt = new FrameFileReader(tmpFile('really-gzip.txt', zlib.gzipSync(mixed)));
    const plainAsGz = new FrameFileReader(tmpFile('really-plain.jsonl.gz', mixed));
    expect(await collect(gzippedAsTxt)).toEqual(expectedLines);
    expect(gzippedAsTxt.gzip).toBe(true);
    expect(await collect(plainAsGz)).toEqual(expectedLines);
    expect(plainAsGz.gzip).toBe(false);
  });

  test('concatenated gzip members (cat a.gz b.gz) are read through', async () => {
    const file = tmpFile('multi.gz', Buffer.concat([zlib.gzipSync(`${frameOf(1)}\n`), zlib.gzipSync(`${frameOf(2)}\n`)]));
    expect(await collect(new FrameFileReader(file))).toEqual([[1, frameOf(1)], [2, frameOf(2)]]);
  });

  test('empty and one-byte files yield nothing', async () => {
    expect(await collect(new FrameFileReader(tmpFile('empty.txt', '')))).toEqual([]);
    expect(await collect(new FrameFileReader(tmpFile('one.txt', '\n')))).toEqual([]);
    expect(await collect(new FrameFileReader(tmpFile('brace.txt', '{')))).toEqual([[1, '{']]);
  });

  test.each([false, true])('lines crossing read-chunk boundaries come out intact (gzip: %s)', async (gzip) => {
    // ~4 MB: many 64 KiB read chunks and gunzip outputs, with lines of varying length across their edges.
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) lines.push(i % 7 === 0 ? `${1617566592 + i}.5: ${frameOf(i)}` : frameOf(i, i % 2 ? 'ETHUSDT' : 'BTCUSDT'));
    const text = lines.join('\n') + '\n';
    const file = tmpFile(`chunks-${gzip}.dat`, gzip ? zlib.gzipSync(text) : text);
    const got = await collect(new FrameFileReader(file));
    expect(got).toHaveLength(lines.length);
    got.forEach(([lineNo, frame], i) => {
      expect(lineNo).toBe(i + 1);
      expect(frame).toBe(lines[i]!.slice(lines[i]!.indexOf('{')));
    });
  });

  test('a line over maxLineBytes is flagged with its full size and does not stop the file', async () => {
    // 200 KB spans several 64 KiB read chunks, so the cap applies while the line is being collected.
    const long = `{"pad":"${'x'.repeat(200_000)}"}`;
    const file = tmpFile('oversize.txt', [frameOf(1), long, frameOf(2)].join('\n'));
    const got: FrameLine[] = [];
    for await (const l of new FrameFileReader(file, { maxLineBytes: 100_000 })) got.push({ ...l, frame: Buffer.from(l.frame) });
    expect(got.map((l) => [l.lineNo, l.oversizeBytes])).toEqual([[1, 0], [2, long.length], [3, 0]]);
    expect(got[1]!.frame.length).toBeLessThanOrEqual(256);
    expect(got[1]!.frame.toString()).toBe(long.slice(0, 256));
    expect(got[2]!.frame.toString()).toBe(frameOf(2));

    const stats = new FrameStats();
    const ids: number[] = [];
    for await (const t of readAggTrades(file, stats, { maxLineBytes: 100_000 })) ids.push(t.aggId);
    expect(ids).toEqual([1, 2]);
    expect(stats.malformed).toBe(1);
    expect(stats.examples[0]).toMatchObject({ lineNo: 2, reason: `line is ${long.length} bytes, over the 100000-byte limit for one frame` });
  });

  test('a missing file is SOURCE_UNREADABLE naming the path', async () => {
    const missing = path.join(tmp, 'no-such-file.jsonl.gz');
    const err = await collect(new FrameFileReader(missing)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KlinestreamError);
    expect(err).toMatchObject({ code: 'SOURCE_UNREADABLE', exitCode: 1, details: { path: missing, errno: 'ENOENT' } });
    expect((err as Error).message).toContain(missing);
    await expect(checkFrameFile(missing)).rejects.toMatchObject({ code: 'SOURCE_UNREADABLE', details: { path: missing } });
  });

  test('a directory is SOURCE_UNREADABLE', async () => {
    await expect(collect(new FrameFileReader(tmp))).rejects.toMatchObject({ code: 'SOURCE_UNREADABLE', details: { path: tmp } });
    await expect(checkFrameFile(tmp)).rejects.toThrow(`cannot read frames file ${tmp}: not a regular file`);
  });

  test('an existing readable file passes checkFrameFile', async () => {
    await expect(checkFrameFile(tmpFile('ok.txt', frameOf(1)))).resolves.toBeUndefined();
  });

  test('truncated gzip: the lines before the cut are yielded, then SOURCE_UNREADABLE with the path', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => frameOf(i));
    const gz = zlib.gzipSync(lines.join('\n') + '\n');
    const file = tmpFile('truncated.gz', gz.subarray(0, Math.floor(gz.length / 2)));
    const reader = new FrameFileReader(file);
    let seen = 0;
    let error: unknown;
    try {
      for await (const l of reader) {
        expect(l.frame.toString()).toBe(lines[seen]);
        seen++;
      }
    } catch (e) {
      error = e;
    }
    expect(seen).toBeGreaterThan(100);
    expect(seen).toBeLessThan(lines.length);
    expect(error).toMatchObject({ code: 'SOURCE_UNREADABLE', details: { path: file, line: seen } });
    expect((error as Error).message).toContain(`gzip data is corrupt or truncated after line ${seen}`);
  });

  test('garbage after the gzip magic bytes is SOURCE_UNREADABLE', async () => {
    const file = tmpFile('corrupt.gz', Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from('not really deflate data at all')]));
    await expect(collect(new FrameFileReader(file))).rejects.toMatchObject({ code: 'SOURCE_UNREADABLE', details: { path: file } });
  });

  const fdDir = '/proc/self/fd';
  /** How many of this process's descriptors point at `file` (Linux). */
  function openCount(file: string): number {
    let n = 0;
    for (const fd of fs.readdirSync(fdDir)) {
      try {
        if (fs.readlinkSync(path.join(fdDir, fd)) === file) n++;
      } catch {
        // the descriptor closed while we looked
      }
    }
    return n;
  }
  (fs.existsSync(fdDir) ? test : test.skip)('stopping early closes the file', async () => {
    const file = tmpFile('early.gz', zlib.gzipSync(Array.from({ length: 50_000 }, (_, i) => frameOf(i)).join('\n')));
    for await (const l of new FrameFileReader(file)) {
      expect(l.lineNo).toBe(1);
      expect(openCount(file)).toBe(1); // open while we read
      break;
    }
    // Closing is asynchronous; wait for it by polling the event loop, bounded, rather than sleeping.
    for (let i = 0; i < 1000 && openCount(file) > 0; i++) await new Promise((r) => setImmediate(r));
    expect(openCount(file)).toBe(0);
  });
});

describe('readAggTrades and FrameStats', () => {
  test('counts ok / other / malformed, keeps the first examples with line numbers and reasons', async () => {
    const lines = [
      frameOf(1),
      '{"result":null,"id":1}',
      frameOf(2).replace('"p":"', '"p":"x'),
      '',
      '{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{}}}',
      'not json',
      frameOf(3),
    ];
    const stats = new FrameStats(1);
    const ids: number[] = [];
    for await (const t of readAggTrades(tmpFile('stats.txt', lines.join('\n')), stats)) ids.push(t.aggId);
    expect(ids).toEqual([1, 3]);
    expect(stats).toMatchObject({ ok: 2, notAggTrade: 2, malformed: 2, blankLines: 1, headerLines: 0, frames: 6 });
    expect(Object.fromEntries(stats.otherKinds)).toEqual({ reply: 1, kline: 1 });
    expect(stats.examples).toEqual([{ lineNo: 3, reason: 'field "p" (price) is not a decimal string: "x102.02"', text: lines[2] }]);
    expect(stats.summary()).toBe(
      '2 aggTrade frames, 2 other frames (reply 1, kline 1), 2 malformed; skipped 1 blank line\n'
      + `  line 3: field "p" (price) is not a decimal string: "x102.02": ${lines[2]}\n`
      + '  ... and 1 more malformed',
    );
    expect(stats.toJSON()).toMatchObject({ ok: 2, notAggTrade: 2, malformed: 2, otherKinds: { reply: 1, kline: 1 } });
  });

  test('FrameStats.record works for a live connection too (bytes, frame sequence numbers) and clips example text', () => {
    const stats = new FrameStats();
    const parser = new AggTradeFrameParser();
    const out = createAggTradeRecord();
    const bad = Buffer.from(`{"e":"aggTrade","pad":"${'y'.repeat(500)}"}`);
    expect(stats.record(parser.parse(bad, out), 41, parser, bad)).toBe(FrameResult.MALFORMED);
    expect(stats.examples[0]!.lineNo).toBe(41);
    expect(stats.examples[0]!.reason).toBe('field "s" missing');
    expect(stats.examples[0]!.text).toBe(bad.subarray(0, 200).toString() + '...');
    expect(stats.summary()).toBe(`0 aggTrade frames, 0 other frames, 1 malformed\n  line 41: field "s" missing: ${bad.subarray(0, 200).toString()}...`);
  });

  test('FrameStats tells at most 32 kinds apart, so input-chosen event names cannot grow it without bound', () => {
    const stats = new FrameStats();
    const parser = new AggTradeFrameParser();
    const out = createAggTradeRecord();
    for (let i = 0; i < 1000; i++) {
      const frame = `{"e":"kind${i}"}`;
      stats.record(parser.parse(frame, out), i + 1, parser, frame);
    }
    expect(stats.notAggTrade).toBe(1000);
    expect(stats.otherKinds.size).toBe(33);
    expect(stats.otherKinds.get('kind0')).toBe(1);
    expect(stats.otherKinds.get('(more kinds)')).toBe(1000 - 32);
  });
});

describe('--source parsing', () => {
  test.each([
    ['file:data/frames.jsonl.gz', 'data/frames.jsonl.gz'],
    ['file:/abs/path.txt', '/abs/path.txt'],
    ['file:///abs/with%20space.txt', '/abs/with space.txt'],
  ])('parseFileSource(%s)', (raw, expected) => {
    expect(parseFileSource(raw, 'aggregate')).toBe(expected);
  });

  test.each([
    [undefined, 'aggregate: --source file:PATH is required'],
    ['binance', 'aggregate: --source must be file:PATH (recorded frames, one per line, optionally gzipped), got "binance"'],
    ['frames.txt', 'aggregate: --source must be file:PATH (recorded frames, one per line, optionally gzipped), got "frames.txt"'],
    ['file:', 'aggregate: --source file: needs a path after "file:", e.g. file:data/frames.jsonl.gz'],
    ['file://remote-host/x', /^aggregate: --source "file:\/\/remote-host\/x" is not a valid file URL: /],
  ])('parseFileSource(%s) is a usage error', (raw, message) => {
    let err: unknown;
    try {
      parseFileSource(raw, 'aggregate');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'USAGE', exitCode: 2 });
    if (typeof message === 'string') expect((err as Error).message).toBe(message);
    else expect((err as Error).message).toMatch(message);
  });

  test('parseSource accepts binance and file:PATH, and says what is allowed otherwise', () => {
    expect(parseSource('binance', 'produce')).toEqual({ kind: 'binance' });
    expect(parseSource('file:x.gz', 'produce')).toEqual({ kind: 'file', path: 'x.gz' });
    expect(() => parseSource('kraken', 'produce')).toThrow(
      'produce: --source must be binance (live exchange) or file:PATH (recorded frames, one per line, optionally gzipped), got "kraken"',
    );
    expect(() => parseSource(undefined, 'produce')).toThrow('produce: --source is required');
  });
});
