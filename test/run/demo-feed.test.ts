/**
 * The demo feed: the bundled recordings looped back to back with shifted times and ids. Every chunk is
 * frames the parser accepts; per symbol, ids keep increasing across loops and chunks (the producer drops
 * nothing as a duplicate) and times stay inside the chunk.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AggTradeFrameParser, createAggTradeRecord, FrameResult } from '../../src/exchange/aggtrade-frame';
import { DemoFeed } from '../../src/run/demo-feed';
import { bundledDataDir } from '../../src/config/package-root';

describe('DemoFeed', () => {
  const anchor = Date.UTC(2026, 0, 1, 12, 0);
  let feed: DemoFeed;
  let dir: string;

  beforeAll(async () => {
    feed = await DemoFeed.load(bundledDataDir(), anchor);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-demo-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('plays every bundled recording, each symbol from one recording only', () => {
    expect(feed.recordings.length).toBeGreaterThanOrEqual(6);
    const symbols = feed.symbols;
    expect(new Set(symbols).size).toBe(symbols.length);
    expect(symbols).toEqual(expect.arrayContaining(['BTCUSDT', 'XRPETH', 'ETHUSDT']));
  });

  it('writes chunks of valid frames with contiguous ids per symbol across loops and chunks', () => {
    const chunkMs = 20 * 60_000;
    const parser = new AggTradeFrameParser();
    const r = createAggTradeRecord();
    const last = new Map<string, { id: number; time: number }>();
    let trades = 0;
    const problems: string[] = [];
    for (let i = 0; i < 2; i++) {
      const chunk = feed.writeChunk(dir, i, chunkMs)!;
      expect(chunk.from).toBe(anchor + i * chunkMs);
      for (const line of fs.readFileSync(chunk.file, 'utf8').trim().split('\n')) {
        // Plain checks per line (jest's expect is too slow for 100k lines); problems are reported at the end.
        if (parser.parse(line, r) !== FrameResult.OK) problems.push(`not a frame: ${parser.reason}: ${line}`);
        else if (r.tradeTime < chunk.from || r.tradeTime >= chunk.to) problems.push(`outside chunk ${i}: ${line}`);
        const prev = last.get(r.symbol);
        if (prev !== undefined && (r.aggId <= prev.id || r.tradeTime < prev.time)) problems.push(`not after ${prev.id}@${prev.time}: ${line}`);
        last.set(r.symbol, { id: r.aggId, time: r.tradeTime });
        trades++;
      }
    }
    expect(problems.slice(0, 5)).toEqual([]);
    // BTCUSDT's 8.5-minute recording loops about 4.7 times in 40 minutes.
    expect(trades).toBeGreaterThan(4 * 12_000);
    expect(feed.writeChunk(dir, 3, chunkMs, anchor + 2 * chunkMs)).toBeUndefined();
  });
});
