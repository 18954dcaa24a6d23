/**
 * Recorded frame files -> one shared, shifted timeline of trades, each pre-rendered as the exchange sends it.
 *
 * - Files are read with the project's FrameFileReader and AggTradeFrameParser: only lines the parser accepts
 *   as aggTrade frames count; other events (kline, depth, ...) and malformed lines are skipped and counted.
 *   A trade id seen twice in one file is kept once.
 * - Re-serialisation: the frame's own payload object (JSON.parse keeps the key order) with "E" and "T"
 *   moved by the shift and "s" renamed if asked; "p" and "q" stay the exact strings of the input.
 * - Shifts are whole multiples of `shiftUnitMs`. align 'start': file i moves by round((start0 - start_i) /
 *   unit) units, start = its first event time. shiftTo: everything moves by floor((shiftTo - start) / unit)
 *   units, so the timeline starts at or less than one unit before shiftTo.
 * - Release order: event time E, then file order, then line order (the exchange pushes a trade at E).
 * - Parsed files are cached per process (path, size, mtime): later starts on the same file skip the parsing.
 * - A symbol in several files must not overlap (ids and times one after the other); otherwise the load fails
 *   naming both files (use renameSymbols).
 */
import { AggTradeFrameParser, FrameResult, createAggTradeRecord } from '../../src/exchange/aggtrade-frame';
import * as fs from 'node:fs';
import { FrameFileReader, checkFrameFile } from '../../src/exchange/frame-file';
import type { Market, TimelineFile } from './options';

/** One trade of the timeline, as a test sees it (times shifted, decimals verbatim). */
export interface StandinTrade {
  readonly symbol: string;
  readonly aggId: number;
  readonly firstTradeId: number;
  readonly lastTradeId: number;
  /** Verbatim decimal strings of the input. */
  readonly price: string;
  readonly quantity: string;
  readonly tradeTime: number;
  readonly eventTime: number;
  readonly isBuyerMaker: boolean;
  /** Index of the source file in `files`. */
  readonly file: number;
}

/** Internal: a trade with its renderings. */
export class TimelineTrade implements StandinTrade {
  readonly symbol: string;
  readonly aggId: number;
  readonly firstTradeId: number;
  readonly lastTradeId: number;
  readonly price: string;
  readonly quantity: string;
  readonly tradeTime: number;
  readonly eventTime: number;
  readonly isBuyerMaker: boolean;
  readonly file: number;
  readonly stream: string;
  private restText: string | undefined;
  private combinedText: string | undefined;

  constructor(
    /** Position in release order. */
    readonly seq: number,
    p: StandinTrade & { stream: string },
    /** The bare payload frame (what /ws/<stream> sends). */
    readonly payload: string,
    private readonly spot: boolean,
  ) {
    this.symbol = p.symbol;
    this.aggId = p.aggId;
    this.firstTradeId = p.firstTradeId;
    this.lastTradeId = p.lastTradeId;
    this.price = p.price;
    this.quantity = p.quantity;
    this.tradeTime = p.tradeTime;
    this.eventTime = p.eventTime;
    this.isBuyerMaker = p.isBuyerMaker;
    this.file = p.file;
    this.stream = p.stream;
  }

  /** The combined-stream frame. */
  get combined(): string {
    return (this.combinedText ??= `{"stream":${JSON.stringify(this.stream)},"data":${this.payload}}`);
  }

  /** The REST aggTrades object (spot adds "M"). */
  get rest(): string {
    return (this.restText ??= JSON.stringify({
      a: this.aggId, p: this.price, q: this.quantity, f: this.firstTradeId, l: this.lastTradeId, T: this.tradeTime, m: this.isBuyerMaker,
      ...(this.spot ? { M: true } : {}),
    }));
  }
}

export type LoadedTrade = TimelineTrade;

export interface FileSummary {
  path: string;
  gzip: boolean;
  lines: number;
  trades: number;
  /** Well-formed frames of other kinds (kline, depth, bookTicker, replies). */
  otherFrames: number;
  malformed: number;
  /** Trade ids seen more than once in this file (kept once). */
  duplicates: number;
  symbols: string[];
  /** Shift applied to this file's E and T, ms. */
  shiftMs: number;
  /** Source decimals per symbol (spot: significant ones), for exchangeInfo precisions. */
  priceDecimals: Record<string, number>;
  quantityDecimals: Record<string, number>;
}

export interface Timeline {
  /** In release order. */
  trades: LoadedTrade[];
  /** Per symbol, in id order. */
  bySymbol: Map<string, LoadedTrade[]>;
  files: FileSummary[];
  /** First event time (after shifting), or 0 for an empty timeline. */
  start: number;
  /** Last event time. */
  end: number;
  /** Most decimals of any price / quantity string per symbol. */
  priceDecimals: Map<string, number>;
  quantityDecimals: Map<string, number>;
}

export interface TimelineLoadOptions {
  files: Array<string | TimelineFile>;
  market: Market;
  align: 'start' | 'none';
  shiftTo: number | undefined;
  shiftUnitMs: number;
  /** Symbols whose trades before `at` (absolute timeline time) are dropped; resolved after shifting. */
  listAt: (start: number) => Map<string, number>;
}

interface Pending {
  symbol: string;
  stream: string;
  aggId: number;
  firstTradeId: number;
  lastTradeId: number;
  tradeTime: number;
  eventTime: number;
  isBuyerMaker: boolean;
  price: string;
  quantity: string;
  /** Shared with the cache: copied, never changed. */
  data: Readonly<Record<string, unknown>>;
  renamed: boolean;
  file: number;
}

const SYMBOL = /^[A-Z0-9_\p{Lo}]{1,40}$/u;

/** Decimals of a decimal string; `significant`: without trailing zeros (spot pads every price to 8). */
function decimals(s: string, significant: boolean): number {
  const dot = s.indexOf('.');
  if (dot < 0) return 0;
  let end = s.length;
  if (significant) while (end > dot + 1 && s.charCodeAt(end - 1) === 0x30) end--;
  return end - dot - 1;
}

/** One file as read, before renaming and shifting; shared by every load of the same file (never mutated). */
interface RawTrade {
  readonly symbol: string;
  readonly aggId: number;
  readonly firstTradeId: number;
  readonly lastTradeId: number;
  readonly tradeTime: number;
  readonly eventTime: number;
  readonly isBuyerMaker: boolean;
  readonly price: string;
  readonly quantity: string;
  readonly data: Readonly<Record<string, unknown>>;
}

interface RawFile {
  trades: readonly RawTrade[];
  gzip: boolean;
  lines: number;
  otherFrames: number;
  malformed: number;
  duplicates: number;
}

/**
 * Reading and parsing a file twice (the project's parser, then JSON.parse for the key order) is most of the
 * cost of a start; tests start many stand-ins on the same few files, so files are kept by path, size and
 * mtime for the life of the process (the recorded files are small: ~13k trades, a few MB of objects).
 */
const rawCache = new Map<string, { key: string; raw: Promise<RawFile> }>();

async function readRaw(path: string): Promise<RawFile> {
  await checkFrameFile(path);
  const st = await fs.promises.stat(path);
  const key = `${st.size}:${st.mtimeMs}`;
  const hit = rawCache.get(path);
  if (hit !== undefined && hit.key === key) return hit.raw;
  const raw = parseRaw(path);
  rawCache.set(path, { key, raw });
  raw.catch(() => rawCache.delete(path));
  return raw;
}

async function parseRaw(path: string): Promise<RawFile> {
  const reader = new FrameFileReader(path);
  const parser = new AggTradeFrameParser();
  const rec = createAggTradeRecord();
  const trades: RawTrade[] = [];
  const seen = new Map<string, Set<number>>();
  const out: RawFile = { trades, gzip: false, lines: 0, otherFrames: 0, malformed: 0, duplicates: 0 };
  for await (const line of reader) {
    if (line.oversizeBytes > 0) {
      out.malformed++;
      continue;
    }
    const result = parser.parse(line.frame, rec);
    if (result === FrameResult.NOT_AGGTRADE) {
      out.otherFrames++;
      continue;
    }
    if (result !== FrameResult.OK) {
      out.malformed++;
      continue;
    }
    let ids = seen.get(rec.symbol);
    if (ids === undefined) seen.set(rec.symbol, (ids = new Set()));
    if (ids.has(rec.aggId)) {
      out.duplicates++;
      continue;
    }
    ids.add(rec.aggId);
    const root = JSON.parse(line.frame.toString('utf8')) as Record<string, unknown>;
    const data = (root.stream !== undefined ? root.data : root) as Record<string, unknown>;
    trades.push({
      symbol: rec.symbol,
      aggId: rec.aggId,
      firstTradeId: rec.firstTradeId,
      lastTradeId: rec.lastTradeId,
      tradeTime: rec.tradeTime,
      eventTime: rec.eventTime,
      isBuyerMaker: rec.isBuyerMaker,
      price: data.p as string,
      quantity: data.q as string,
      data,
    });
  }
  out.gzip = reader.gzip === true;
  out.lines = reader.lines;
  return out;
}

async function loadFile(spec: TimelineFile, fileIndex: number, market: Market): Promise<{ trades: Pending[]; summary: FileSummary }> {
  const rename = spec.renameSymbols ?? {};
  for (const [from, to] of Object.entries(rename)) {
    if (!SYMBOL.test(to)) throw new RangeError(`renameSymbols of ${spec.path}: ${JSON.stringify(from)} -> ${JSON.stringify(to)} is not an exchange symbol (uppercase)`);
  }
  const raw = await readRaw(spec.path);
  const summary: FileSummary = {
    path: spec.path, gzip: raw.gzip, lines: raw.lines, trades: raw.trades.length, otherFrames: raw.otherFrames, malformed: raw.malformed,
    duplicates: raw.duplicates, symbols: [], shiftMs: 0, priceDecimals: {}, quantityDecimals: {},
  };
  const originals = new Map<string, string>();
  const significant = market === 'spot';
  const trades: Pending[] = raw.trades.map((r) => {
    const symbol = rename[r.symbol] ?? r.symbol;
    const before = originals.get(symbol);
    if (before === undefined) originals.set(symbol, r.symbol);
    else if (before !== r.symbol) throw new RangeError(`renameSymbols of ${spec.path}: ${before} and ${r.symbol} would both be ${symbol}`);
    summary.priceDecimals[symbol] = Math.max(summary.priceDecimals[symbol] ?? 0, decimals(r.price, significant));
    summary.quantityDecimals[symbol] = Math.max(summary.quantityDecimals[symbol] ?? 0, decimals(r.quantity, significant));
    return {
      symbol,
      stream: `${symbol.toLowerCase()}@aggTrade`,
      aggId: r.aggId,
      firstTradeId: r.firstTradeId,
      lastTradeId: r.lastTradeId,
      tradeTime: r.tradeTime,
      eventTime: r.eventTime,
      isBuyerMaker: r.isBuyerMaker,
      price: r.price,
      quantity: r.quantity,
      data: r.data,
      renamed: symbol !== r.symbol,
      file: fileIndex,
    };
  });
  summary.symbols = [...originals.keys()].sort();
  return { trades, summary };
}

function firstEventTime(trades: readonly Pending[]): number {
  let min = Infinity;
  for (const t of trades) if (t.eventTime < min) min = t.eventTime;
  return min;
}

export async function loadTimeline(o: TimelineLoadOptions): Promise<Timeline> {
  if (o.files.length === 0) throw new RangeError('files: at least one frames file is needed');
  const specs = o.files.map((f) => (typeof f === 'string' ? { path: f } : f));
  const loaded = await Promise.all(specs.map((s, i) => loadFile(s, i, o.market)));

  // Shifts, whole units only.
  const unit = o.shiftUnitMs;
  const starts = loaded.map((l) => firstEventTime(l.trades));
  const shifts = loaded.map(() => 0);
  const ref = starts.find((s) => Number.isFinite(s));
  if (o.align === 'start' && ref !== undefined) {
    starts.forEach((s, i) => {
      if (Number.isFinite(s)) shifts[i] = Math.round((ref - s) / unit) * unit + 0; // + 0: no -0
    });
  }
  if (o.shiftTo !== undefined) {
    let start = Infinity;
    starts.forEach((s, i) => {
      if (Number.isFinite(s)) start = Math.min(start, s + shifts[i]!);
    });
    if (Number.isFinite(start)) {
      const global = Math.floor((o.shiftTo - start) / unit) * unit + 0;
      for (let i = 0; i < shifts.length; i++) shifts[i]! += global;
    }
  }

  const all: Pending[] = [];
  loaded.forEach((l, i) => {
    const shift = shifts[i]!;
    l.summary.shiftMs = shift;
    for (const t of l.trades) {
      t.eventTime += shift;
      t.tradeTime += shift;
      if (t.tradeTime < 0 || t.eventTime < 0) throw new RangeError(`shift of ${shift} ms moves trades of ${l.summary.path} before 1970`);
      all.push(t);
    }
  });

  // Release order: E, then file, then line (Array.prototype.sort is stable; `all` is in file/line order).
  all.sort((a, b) => a.eventTime - b.eventTime || a.file - b.file);
  const start = all.length > 0 ? all[0]!.eventTime : 0;

  // Listed mid-stream: earlier trades of those symbols never happened.
  const listAt = o.listAt(start);
  const kept = listAt.size === 0 ? all : all.filter((t) => {
    const at = listAt.get(t.symbol);
    return at === undefined || t.tradeTime >= at;
  });

  const spot = o.market === 'spot';
  const trades: LoadedTrade[] = kept.map((p, seq) => {
    // A copy keeps the key order; assigning existing keys does not move them.
    const data: Record<string, unknown> = { ...p.data };
    if ('E' in data) data.E = p.eventTime;
    if ('T' in data) data.T = p.tradeTime;
    if (p.renamed) data.s = p.symbol;
    const payload = JSON.stringify(data);
    return new TimelineTrade(seq, p, payload, spot);
  });

  const bySymbol = new Map<string, LoadedTrade[]>();
  for (const t of trades) {
    let list = bySymbol.get(t.symbol);
    if (list === undefined) bySymbol.set(t.symbol, (list = []));
    list.push(t);
  }
  for (const [symbol, list] of bySymbol) {
    list.sort((a, b) => a.aggId - b.aggId);
    checkNoOverlap(symbol, list, specs);
  }

  const priceDecimals = new Map<string, number>();
  const quantityDecimals = new Map<string, number>();
  for (const l of loaded) {
    for (const [s, d] of Object.entries(l.summary.priceDecimals)) priceDecimals.set(s, Math.max(priceDecimals.get(s) ?? 0, d));
    for (const [s, d] of Object.entries(l.summary.quantityDecimals)) quantityDecimals.set(s, Math.max(quantityDecimals.get(s) ?? 0, d));
  }
  return {
    trades,
    bySymbol,
    files: loaded.map((l) => l.summary),
    start,
    end: trades.length > 0 ? trades[trades.length - 1]!.eventTime : start,
    priceDecimals,
    quantityDecimals,
  };
}

/** A symbol from several files: each file's ids and times must come after the previous file's. */
function checkNoOverlap(symbol: string, byId: readonly LoadedTrade[], specs: readonly TimelineFile[]): void {
  let prev: LoadedTrade | undefined;
  for (const t of byId) {
    if (prev !== undefined && prev.file !== t.file) {
      if (prev.aggId === t.aggId || t.eventTime < prev.eventTime) {
        throw new RangeError(
          `symbol ${symbol} is in ${specs[prev.file]!.path} and ${specs[t.file]!.path} with overlapping ids or times ` +
            `(id ${prev.aggId} at ${prev.eventTime}, id ${t.aggId} at ${t.eventTime}); rename one with renameSymbols`,
        );
      }
    }
    prev = t;
  }
}
