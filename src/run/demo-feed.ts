/**
 * The demo's trades (`klinestream run --demo`): the real exchange recordings bundled in data/binance/,
 * replayed as one continuous market so that candles keep forming for as long as the demo runs.
 *
 * - Every recording is a loop: its trades play with their real prices, quantities, sides and spacing, and
 *   when it ends it starts again right after (1 s later). A symbol comes from one recording only (the first
 *   in DEMO_RECORDINGS that has it), so spot and futures trades of one name never mix.
 * - Times are shifted: all loops start at the demo's anchor (the start of the current minute), so klines are
 *   of today, and a loop's repetition continues where the last one ended. Without the shift, two recordings
 *   years apart in one topic would make the workers publish every empty minute in between.
 * - Aggregate and trade ids are shifted by the recording's id span per repetition, so every repetition is
 *   new trades to the producer (it drops ids it has written before) and contiguous, not a gap.
 * - The feed is written in chunks of `chunkMs` of event time, as recorded frames files; `produce --source
 *   file:CHUNK --speed 10x` replays each, and the next chunk continues from the producer's checkpoint.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FrameStats } from '../exchange/frame-stats';
import { readAggTrades } from '../exchange/frame-file';
import { formatDecimal } from '../downstream/kline-csv';

/** The recordings the demo plays, by folder of data/binance/ (see its PROVENANCE.md). */
export const DEMO_RECORDINGS: readonly string[] = [
  'btcusdt-usdm-2023-04-04/aggtrade-frames.jsonl.gz',
  'xrpeth-spot-2019-10-11/aggtrade-frames.jsonl.gz',
  'ws-recordings-2021/spot_BTCUSDT-ETHUSDT-DOTUSDT_aggTrade+kline1m_20210404T2003.txt',
  'ws-recordings-2021/usdm_5symbols_aggTrade_20210405T1836.txt',
  'ws-recordings-2021/spot_8symbols_aggTrade_20210405T1833.txt',
  'ws-recordings-2021/usdm_DENT-KSM-XMR-YFI_aggTrade+kline1m_20210417T1637.txt',
  'ws-recordings-2021/usdm_SUSHI-AKRO-KEEP-CTK_aggTrade+kline1m_20210722T2225.txt',
  'ws-recordings-2021/spot_6symbols_aggTrade+kline1m_20210417T1636.txt',
];

const LOOP_PAUSE_MS = 1000;

interface SymbolTrades {
  symbol: string;
  stream: string;
  aggId: number[];
  first: number[];
  last: number[];
  price: string[];
  quantity: string[];
  time: number[];
  /** Event time minus trade time, kept per trade. */
  eventLag: number[];
  maker: boolean[];
  aggSpan: number;
  tradeSpan: number;
}

interface Recording {
  file: string;
  start: number;
  /** Loop length: the recording's span plus a pause. */
  loopMs: number;
  symbols: SymbolTrades[];
}

export interface DemoChunk {
  file: string;
  index: number;
  from: number;
  to: number;
  trades: number;
}

export class DemoFeed {
  private constructor(readonly recordings: Recording[], readonly anchor: number) {}

  /** Loads the recordings (a few MB, once). `anchor` is where every loop starts, epoch ms. */
  static async load(dataDir: string, anchor: number, recordings: readonly string[] = DEMO_RECORDINGS): Promise<DemoFeed> {
    const taken = new Set<string>();
    const out: Recording[] = [];
    for (const rel of recordings) {
      const file = path.join(dataDir, rel);
      if (!fs.existsSync(file)) continue;
      const bySymbol = new Map<string, SymbolTrades>();
      const stats = new FrameStats();
      for await (const t of readAggTrades(file, stats)) {
        if (taken.has(t.symbol)) continue;
        let s = bySymbol.get(t.symbol);
        if (s === undefined) {
          s = { symbol: t.symbol, stream: `${t.symbol.toLowerCase()}@aggTrade`, aggId: [], first: [], last: [], price: [], quantity: [], time: [], eventLag: [], maker: [], aggSpan: 0, tradeSpan: 0 };
          bySymbol.set(t.symbol, s);
        }
        // A recording can repeat a frame (two connections): keep ids increasing.
        if (s.aggId.length > 0 && t.aggId <= s.aggId[s.aggId.length - 1]!) continue;
        s.aggId.push(t.aggId);
        s.first.push(t.firstTradeId);
        s.last.push(t.lastTradeId);
        s.price.push(formatDecimal(t.price));
        s.quantity.push(formatDecimal(t.quantity));
        s.time.push(t.tradeTime);
        s.eventLag.push(Math.max(0, t.eventTime - t.tradeTime));
        s.maker.push(t.isBuyerMaker);
      }
      const symbols = [...bySymbol.values()].filter((s) => s.aggId.length > 0);
      if (symbols.length === 0) continue;
      let start = Infinity;
      let end = -Infinity;
      for (const s of symbols) {
        taken.add(s.symbol);
        s.aggSpan = s.aggId[s.aggId.length - 1]! - s.aggId[0]! + 1;
        s.tradeSpan = Math.max(...s.last) - Math.min(...s.first) + 1;
        start = Math.min(start, s.time[0]!);
        end = Math.max(end, s.time[s.time.length - 1]!);
      }
      out.push({ file: rel, start, loopMs: end - start + LOOP_PAUSE_MS, symbols });
    }
    if (out.length === 0) throw new Error(`no demo recordings found in ${dataDir}`);
    return new DemoFeed(out, anchor);
  }

  get symbols(): string[] {
    return this.recordings.flatMap((r) => r.symbols.map((s) => s.symbol));
  }

  /** The frames of event time [from, to) (epoch ms), time-ordered, as lines of a frames file. */
  lines(from: number, to: number): string[] {
    const items: Array<{ t: number; line: string }> = [];
    for (const r of this.recordings) {
      const firstLoop = Math.max(0, Math.floor((from - this.anchor) / r.loopMs) - 1);
      const lastLoop = Math.floor((to - this.anchor) / r.loopMs);
      for (let k = firstLoop; k <= lastLoop; k++) {
        const shift = this.anchor + k * r.loopMs - r.start;
        for (const s of r.symbols) {
          const da = k * s.aggSpan;
          const dt = k * s.tradeSpan;
          for (let i = 0; i < s.aggId.length; i++) {
            const t = s.time[i]! + shift;
            if (t < from || t >= to) continue;
            items.push({
              t,
              line: `{"stream":"${s.stream}","data":{"e":"aggTrade","E":${t + s.eventLag[i]!},"s":"${s.symbol}","a":${s.aggId[i]! + da},` +
                `"p":"${s.price[i]}","q":"${s.quantity[i]}","f":${s.first[i]! + dt},"l":${s.last[i]! + dt},"T":${t},"m":${s.maker[i]}}}`,
            });
          }
        }
      }
    }
    // Stable: the trades of one symbol keep their order.
    items.sort((a, b) => a.t - b.t);
    return items.map((x) => x.line);
  }

  /** Writes chunk `index` ([anchor + index * chunkMs, + chunkMs), capped at `until`) into `dir`. */
  writeChunk(dir: string, index: number, chunkMs: number, until = Infinity): DemoChunk | undefined {
    const from = this.anchor + index * chunkMs;
    const to = Math.min(from + chunkMs, until);
    if (!(to > from)) return undefined;
    const lines = this.lines(from, to);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `chunk-${String(index).padStart(4, '0')}.jsonl`);
    fs.writeFileSync(file, lines.join('\n') + (lines.length > 0 ? '\n' : ''));
    return { file, index, from, to, trades: lines.length };
  }
}
