/**
 * The stand-in's `klines` endpoint (USD-M `/fapi/v1/klines`, spot `/api/v3/klines`), built from its own
 * released trades by code of its own: it must not share anything with src/aggregation, because tests use it
 * to check that code. Interval boundaries come from Date arithmetic, sums are exact decimal arithmetic on
 * the trades' own strings (BigInt scaled integers), so the answer is what the exchange prints, not a double.
 *
 * The exchange's semantics, as its API documents them:
 * - Parameters: symbol, interval (mandatory), startTime, endTime, limit (default 500; USD-M at most 1500,
 *   spot 1000; a larger limit is served as the maximum, below 1 is -1100). A kline is in the answer when its
 *   open time is within [startTime, endTime]; startTime only: the first `limit` from it; endTime only: the
 *   last `limit` up to it; neither: the most recent `limit`. startTime > endTime: -1023.
 * - The answer is an array of arrays: [openTime, "open", "high", "low", "close", "volume", closeTime,
 *   "quoteVolume", tradeCount, "takerBuyVolume", "takerBuyQuoteVolume", "0"].
 * - Klines exist from the one holding the symbol's first trade to the one holding the server time (that last
 *   one still open, as the exchange serves its current kline). A minute without trades is a kline of its own:
 *   open = high = low = close = the previous close, volumes 0, count 0.
 * - Printed precision: USD-M prices with the symbol's pricePrecision, volumes with quantityPrecision, quote
 *   volumes with both added (exact products need no rounding); spot prints 8 decimals everywhere (rounded
 *   half up where an exact quote volume has more).
 * - Weight: USD-M by limit ([1,100) 1, [100,500) 2, [500,1000] 5, above 10); spot 2.
 *
 * Bundled klines (the exchange's own, `klines-1m.csv` of data/binance, 12-column layout) can be served
 * instead of built ones for a symbol and interval: rows verbatim, moved by the file's timeline shift.
 * A disagreement (one trade more than the stand-in ever sent) can be added to the built klines.
 */
import * as fs from 'node:fs';
import { intParam, jsonError, type HttpAnswer } from './rest';
import type { Market } from './options';
import type { LoadedTrade } from './timeline';

export const KLINES_DEFAULT_LIMIT = 500;
export const KLINES_MAX_LIMIT: Record<Market, number> = { usdm: 1500, spot: 1000 };
const SPOT_DECIMALS = 8;
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** 1970-01-01 was a Thursday; weeks open on Mondays, 4 days later. */
const FIRST_MONDAY_MS = 4 * DAY_MS;

/** The intervals the stand-in knows (the exchange's, without 1s and 3d). */
export const STANDIN_KLINE_INTERVALS = ['1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '1w', '1M'] as const;

const FIXED_SIZES: Record<string, number> = {
  '1m': MINUTE_MS, '3m': 3 * MINUTE_MS, '5m': 5 * MINUTE_MS, '15m': 15 * MINUTE_MS, '30m': 30 * MINUTE_MS,
  '1h': HOUR_MS, '2h': 2 * HOUR_MS, '4h': 4 * HOUR_MS, '6h': 6 * HOUR_MS, '8h': 8 * HOUR_MS, '12h': 12 * HOUR_MS,
  '1d': DAY_MS, '1w': 7 * DAY_MS,
};

export function isStandinInterval(s: string): boolean {
  return (STANDIN_KLINE_INTERVALS as readonly string[]).includes(s);
}

/** Open time of the kline of `interval` holding time `t`. */
export function klineOpenOf(interval: string, t: number): number {
  if (interval === '1M') {
    const d = new Date(t);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  }
  const size = FIXED_SIZES[interval]!;
  const origin = interval === '1w' ? FIRST_MONDAY_MS : 0;
  return t - (((t - origin) % size) + size) % size;
}

export function klineNextOpen(interval: string, open: number): number {
  if (interval === '1M') {
    const d = new Date(open);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }
  return open + FIXED_SIZES[interval]!;
}

/** USD-M weight by the limit asked for (default 500); spot 2 whatever the limit. */
export function klinesWeight(market: Market, q: URLSearchParams): number {
  if (market === 'spot') return 2;
  const raw = q.get('limit');
  const limit = raw !== null && /^[0-9]{1,16}$/.test(raw) ? Number(raw) : KLINES_DEFAULT_LIMIT;
  return limit < 100 ? 1 : limit < 500 ? 2 : limit <= 1000 ? 5 : 10;
}

/** A trade as the kline builder needs it; decimals as the exchange sent them. */
export interface KlineTrade {
  price: string;
  quantity: string;
  tradeTime: number;
  /** Underlying trades in this aggregate (l - f + 1). */
  count: number;
  isBuyerMaker: boolean;
}

/** A decimal string as an integer scaled by 10^scale (scale >= its decimals). */
function scaled(text: string, scale: number): bigint {
  const dot = text.indexOf('.');
  const whole = dot < 0 ? text : text.slice(0, dot);
  const frac = dot < 0 ? '' : text.slice(dot + 1);
  if (frac.length > scale) throw new RangeError(`${text} has more than ${scale} decimals`);
  return BigInt(whole + frac.padEnd(scale, '0'));
}

function decimalsOf(text: string): number {
  const dot = text.indexOf('.');
  return dot < 0 ? 0 : text.length - dot - 1;
}

/** `v` / 10^scale printed with `decimals` decimals (rounded half up when fewer than scale). */
export function renderScaled(v: bigint, scale: number, decimals: number): string {
  let n = v;
  if (decimals < scale) {
    const div = 10n ** BigInt(scale - decimals);
    n = (v + div / 2n) / div;
  } else if (decimals > scale) {
    n = v * 10n ** BigInt(decimals - scale);
  }
  if (decimals === 0) return n.toString();
  const digits = n.toString().padStart(decimals + 1, '0');
  return `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
}

export interface SymbolDecimals {
  pricePrecision: number;
  quantityPrecision: number;
}

/**
 * One symbol's klines from its trades (in time order). Prices are kept at the most decimals any price has,
 * quantities likewise, quote volumes at both added: every sum is exact.
 */
export class KlineBook {
  private readonly times: number[];
  private readonly priceScale: number;
  private readonly qtyScale: number;
  private readonly prices: bigint[];
  private readonly qtys: bigint[];

  constructor(
    private readonly trades: readonly KlineTrade[],
    private readonly market: Market,
    private readonly decimals: SymbolDecimals,
  ) {
    this.times = trades.map((t) => t.tradeTime);
    this.priceScale = Math.max(0, ...trades.map((t) => decimalsOf(t.price)));
    this.qtyScale = Math.max(0, ...trades.map((t) => decimalsOf(t.quantity)));
    this.prices = trades.map((t) => scaled(t.price, this.priceScale));
    this.qtys = trades.map((t) => scaled(t.quantity, this.qtyScale));
  }

  get empty(): boolean {
    return this.trades.length === 0;
  }

  get firstTime(): number {
    return this.times[0]!;
  }

  /** Index of the first trade at or after time t. */
  private lowerBound(t: number): number {
    let lo = 0;
    let hi = this.times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.times[mid]! < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The exchange's row of the kline [open, next open). Needs a trade at or before `open`'s end. */
  row(interval: string, open: number): unknown[] {
    const next = klineNextOpen(interval, open);
    const from = this.lowerBound(open);
    const to = this.lowerBound(next);
    const pd = this.market === 'spot' ? SPOT_DECIMALS : this.decimals.pricePrecision;
    const qd = this.market === 'spot' ? SPOT_DECIMALS : this.decimals.quantityPrecision;
    const vd = this.market === 'spot' ? SPOT_DECIMALS : pd + qd;
    const ps = this.priceScale;
    const qs = this.qtyScale;
    const price = (v: bigint): string => renderScaled(v, ps, pd);
    const qty = (v: bigint): string => renderScaled(v, qs, qd);
    const quote = (v: bigint): string => renderScaled(v, ps + qs, vd);
    if (from === to) {
      const prev = this.prices[from - 1]!;
      return [open, price(prev), price(prev), price(prev), price(prev), qty(0n), next - 1, quote(0n), 0, qty(0n), quote(0n), '0'];
    }
    let high = this.prices[from]!;
    let low = high;
    let volume = 0n;
    let quoteVolume = 0n;
    let takerVolume = 0n;
    let takerQuote = 0n;
    let count = 0;
    for (let i = from; i < to; i++) {
      const p = this.prices[i]!;
      const q = this.qtys[i]!;
      if (p > high) high = p;
      if (p < low) low = p;
      volume += q;
      quoteVolume += p * q;
      count += this.trades[i]!.count;
      if (!this.trades[i]!.isBuyerMaker) {
        takerVolume += q;
        takerQuote += p * q;
      }
    }
    return [
      open, price(this.prices[from]!), price(high), price(low), price(this.prices[to - 1]!), qty(volume), next - 1,
      quote(quoteVolume), count, qty(takerVolume), quote(takerQuote), '0',
    ];
  }
}

/** The symbol's released trades in time order, with the phantom (if any) right after the trade it joins. */
export function klineTrades(trades: readonly LoadedTrade[], phantom: { at: number; quantity: string | undefined } | undefined): KlineTrade[] {
  const out: KlineTrade[] = trades
    .map((t) => ({ price: t.price, quantity: t.quantity, tradeTime: t.tradeTime, count: t.lastTradeId - t.firstTradeId + 1, isBuyerMaker: t.isBuyerMaker, id: t.aggId }))
    .sort((a, b) => a.tradeTime - b.tradeTime || a.id - b.id)
    .map(({ id: _id, ...t }) => t);
  if (phantom !== undefined) {
    const i = out.findIndex((t) => t.tradeTime >= phantom.at);
    if (i >= 0) {
      const joined = out[i]!;
      const step = decimalsOf(joined.quantity) === 0 ? '1' : `0.${'1'.padStart(decimalsOf(joined.quantity), '0')}`;
      // A maker-side trade at the same price right after a real one: open, high, low, close and the taker
      // volumes stay; count, volume and quote volume are one trade more.
      out.splice(i + 1, 0, { price: joined.price, quantity: phantom.quantity ?? step, tradeTime: joined.tradeTime, count: 1, isBuyerMaker: true });
    }
  }
  return out;
}

/** One bundled kline file: rows verbatim (strings as the exchange printed them), times moved by `shiftMs`. */
export interface BundledKlines {
  symbol: string;
  interval: string;
  rows: unknown[][];
}

const BUNDLED_HEADER = 'open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore';

export function loadBundledKlines(path: string, symbol: string, interval: string, shiftMs: number): BundledKlines {
  const lines = fs.readFileSync(path, 'utf8').trim().split('\n');
  if (lines[0]!.trim() !== BUNDLED_HEADER) {
    throw new RangeError(`${path}: bundled klines need the exchange's 12-column layout (${BUNDLED_HEADER}), got ${lines[0]}`);
  }
  if (!isStandinInterval(interval)) throw new RangeError(`${path}: unknown interval ${interval}`);
  const rows = lines.slice(1).map((line, n) => {
    const c = line.trim().split(',');
    if (c.length !== 12) throw new RangeError(`${path} line ${n + 2}: ${c.length} columns, want 12`);
    return [Number(c[0]) + shiftMs, c[1], c[2], c[3], c[4], c[5], Number(c[6]) + shiftMs, c[7], Number(c[8]), c[9], c[10], c[11]];
  });
  return { symbol, interval, rows };
}

export interface KlinesSource {
  /** Built klines of the symbol (undefined: the symbol has no trades). */
  book: KlineBook | undefined;
  /** Bundled rows for this symbol and interval, when the stand-in serves those instead. */
  bundled: BundledKlines | undefined;
  serverTime: number;
}

/** Answers one klines request whose symbol has been checked. */
export function klinesAnswer(market: Market, q: URLSearchParams, source: (interval: string) => KlinesSource): HttpAnswer {
  const interval = q.get('interval');
  if (interval === null || interval === '') return jsonError(400, -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.");
  if (!isStandinInterval(interval)) return jsonError(400, -1120, 'Invalid interval.');
  const startTime = intParam(q, 'startTime');
  const endTime = intParam(q, 'endTime');
  const limitRaw = intParam(q, 'limit');
  for (const [name, v] of [['startTime', startTime], ['endTime', endTime], ['limit', limitRaw]] as const) {
    if (v === 'bad') return jsonError(400, -1100, `Illegal characters found in parameter '${name}'; legal range is '^[0-9]{1,20}$'.`);
  }
  const start = startTime as number | undefined;
  const end = endTime as number | undefined;
  const max = KLINES_MAX_LIMIT[market];
  const limitAsked = (limitRaw as number | undefined) ?? KLINES_DEFAULT_LIMIT;
  if (limitAsked < 1) return jsonError(400, -1100, `Illegal characters found in parameter 'limit'; legal range is '1 - ${max}'.`);
  const limit = Math.min(limitAsked, max);
  if (start !== undefined && end !== undefined && start > end) return jsonError(400, -1023, 'Start time is greater than end time.');
  const src = source(interval);
  const ok = (rows: unknown[][]): HttpAnswer => ({ status: 200, body: JSON.stringify(rows), contentType: 'application/json', headers: {} });
  const inRange = (open: number): boolean => (start === undefined || open >= start) && (end === undefined || open <= end);
  const current = klineOpenOf(interval, src.serverTime);

  if (src.bundled !== undefined) {
    const rows = src.bundled.rows.filter((r) => (r[0] as number) <= current && inRange(r[0] as number));
    return ok(start === undefined && rows.length > limit ? rows.slice(rows.length - limit) : rows.slice(0, limit));
  }
  const book = src.book;
  if (book === undefined || book.empty) return ok([]);
  const first = klineOpenOf(interval, book.firstTime);
  const last = Math.max(first, current);
  const opens: number[] = [];
  if (start !== undefined) {
    for (let o = Math.max(first, klineOpenOf(interval, start)); o <= last && opens.length < limit; o = klineNextOpen(interval, o)) {
      if (inRange(o)) opens.push(o);
      else if (end !== undefined && o > end) break;
    }
  } else {
    const top = end === undefined ? last : Math.min(last, klineOpenOf(interval, end));
    for (let o = top; o >= first && opens.length < limit; o = klineOpenOf(interval, o - 1)) opens.push(o);
    opens.reverse();
  }
  return ok(opens.map((o) => book.row(interval, o)));
}
