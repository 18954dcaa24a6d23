/**
 * Parses one Binance aggTrade WebSocket text frame into a caller-owned, reusable numeric record.
 *
 * The per-frame path never throws: a producer handles thousands of frames per second per connection, and
 * one bad frame must be counted and logged, not take the connection down (SPEC 4.5). So `parse` returns a
 * result code, and the human-readable reason for a MALFORMED frame is kept on the parser until the next call.
 *
 * Accepted forms (both as the exchange sends them):
 *   combined stream  {"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":..,"s":"BTCUSDT","a":..,...}}
 *   bare             {"e":"aggTrade","E":..,"s":"BTCUSDT","a":..,"p":"..","q":"..","f":..,"l":..,"T":..,"m":..}
 * Unknown fields (spot's "M", anything added later) are ignored.
 *
 * Choices worth knowing:
 * - "p" and "q" must be JSON strings holding a plain decimal (`28145.10`, `369`). The exchange always sends
 *   strings; a JSON number there means the frame went through some other serializer that may already have
 *   rounded the value, so it is rejected with a reason rather than silently accepted. Each is converted with
 *   Number() exactly once, which yields the nearest double to the decimal text.
 * - Ids and times must be JSON numbers that are safe non-negative integers (> 2^53 cannot be represented
 *   exactly in a double, and the aggregator compares ids for duplicates).
 * - The symbol is uppercase ASCII letters, digits and `_` (USD-M delivery contracts are named like
 *   `BTCUSDT_250926`), or letters of caseless scripts (the exchange has listed symbols in Chinese characters).
 *   Lowercase Latin letters are rejected: the exchange never sends them in "s", so they signal a foreign source.
 * - In a combined-stream frame the stream name must be `<symbol in lowercase>@aggTrade` when the payload is
 *   an aggTrade: a mismatch means the frame was stitched together wrongly, and trusting either half would
 *   put trades on the wrong symbol.
 * - `out` is written only when the result is OK, so a rejected frame never leaves a half-filled record.
 * - Plain frames (the exchange's own layout) are read by a byte-level scanner (aggtrade-scan.ts) without
 *   JSON.parse or allocation; it gives exactly the record this file's JSON.parse path would give, and
 *   declines everything else, which then takes that path. `{ fastPath: false }` forces the JSON.parse path.
 */
import { AggTradeScanner } from './aggtrade-scan';

export const FrameResult = {
  /** An aggTrade frame; `out` holds it. */
  OK: 0,
  /** A well-formed frame of another kind (kline, depth, bookTicker, subscription reply): skip and count. */
  NOT_AGGTRADE: 1,
  /** Not a usable frame; `parser.reason` says why. */
  MALFORMED: 2,
} as const;
export type FrameResult = (typeof FrameResult)[keyof typeof FrameResult];

/** One aggregate trade, as numbers. Reused frame after frame: copy what you keep. */
export interface AggTradeRecord {
  /** Exchange symbol, e.g. `BTCUSDT`; the producer maps it to the global symbol index. */
  symbol: string;
  aggId: number;
  firstTradeId: number;
  lastTradeId: number;
  price: number;
  quantity: number;
  /** Trade time, epoch ms. */
  tradeTime: number;
  /** Exchange event time, epoch ms. */
  eventTime: number;
  isBuyerMaker: boolean;
}

export function createAggTradeRecord(): AggTradeRecord {
  // All fields present from the start so every record has the same hidden class.
  return { symbol: '', aggId: 0, firstTradeId: 0, lastTradeId: 0, price: 0, quantity: 0, tradeTime: 0, eventTime: 0, isBuyerMaker: false };
}

type JsonObject = Record<string, unknown>;

const AGG_TRADE_SUFFIX = '@aggTrade';
/** Digits with an optional fraction: what the exchange sends for prices and quantities. */
const DECIMAL = /^[0-9]+(?:\.[0-9]+)?$/;
/** Uppercase ASCII, digits, `_`, and letters of caseless scripts (\p{Lo}), up to a sane length. */
const SYMBOL = /^[A-Z0-9_\p{Lo}]{1,40}$/u;
/** Reasons quote input; keep them short enough for a log line even when the input is huge. */
const MAX_QUOTE = 60;
const MAX_REASON = 240;
const MAX_KIND = 40;

// Fatal decoding: invalid UTF-8 is reported as malformed instead of being turned into U+FFFD silently.
const utf8 = new TextDecoder('utf-8', { fatal: true });

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short, never-throwing rendering of a JSON value for a reason text. */
function show(v: unknown): string {
  let s: string;
  if (typeof v === 'string') s = JSON.stringify(v.length > MAX_QUOTE ? v.slice(0, MAX_QUOTE) + '...' : v);
  else if (Array.isArray(v)) s = 'an array';
  else if (v === null) s = 'null';
  else if (typeof v === 'object') s = 'an object';
  else s = String(v);
  return s;
}

function clip(s: string): string {
  return s.length > MAX_REASON ? s.slice(0, MAX_REASON) + '...' : s;
}

export interface AggTradeFrameParserOptions {
  /** Read plain frames with the byte-level scanner (default true); false: always JSON.parse (tests, comparison). */
  fastPath?: boolean;
}

/**
 * One parser per connection or file (it holds the reason of the last failure and the scanner's scratch state).
 * `parse` allocates nothing for a frame the fast path reads (the symbol string is interned); the JSON.parse
 * path allocates what JSON.parse (and, for bytes, UTF-8 decoding) does, plus the reason on MALFORMED and
 * NOT_AGGTRADE.
 */
export class AggTradeFrameParser {
  private lastReason = '';
  private lastKind = '';
  private readonly scanner: AggTradeScanner | null;
  private fastFrames = 0;

  constructor(options: AggTradeFrameParserOptions = {}) {
    this.scanner = options.fastPath === false ? null : new AggTradeScanner();
  }

  /** Frames so far that the fast path read (OK results that did not go through JSON.parse). */
  get fastPathFrames(): number {
    return this.fastFrames;
  }

  /** Why the last `parse` returned MALFORMED; empty after OK / NOT_AGGTRADE. */
  get reason(): string {
    return this.lastReason;
  }

  /**
   * What the last NOT_AGGTRADE frame was: its event type (`kline`, `depthUpdate`, `bookTicker`, ...), the
   * stream suffix when the payload carries no event type (`bookTicker`, `depth5@100ms`), `reply` for a
   * subscription reply or `error` for an error reply. Empty otherwise.
   */
  get kind(): string {
    return this.lastKind;
  }

  /** Marks a frame as MALFORMED for a reason found outside the parser (e.g. a file line over the size limit). */
  reject(reason: string): typeof FrameResult.MALFORMED {
    this.lastKind = '';
    this.lastReason = clip(reason);
    return FrameResult.MALFORMED;
  }

  parse(frame: string | Uint8Array, out: AggTradeRecord): FrameResult {
    this.lastReason = '';
    this.lastKind = '';
    if (this.scanner !== null && (typeof frame === 'string' || frame instanceof Uint8Array) && this.scanner.scan(frame, out)) {
      this.fastFrames++;
      return FrameResult.OK;
    }
    try {
      return this.parseUnguarded(frame, out);
    } catch (e) {
      // Unreachable for string / byte input (every throwing call below is guarded); this keeps the
      // never-throws promise even for a caller that passes something else from untyped code.
      return this.reject(`unexpected ${e instanceof Error ? e.name : 'error'} while parsing: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private parseUnguarded(frame: string | Uint8Array, out: AggTradeRecord): FrameResult {
    let text: string;
    if (typeof frame === 'string') {
      text = frame;
    } else {
      try {
        text = utf8.decode(frame);
      } catch {
        return this.reject('not UTF-8 text');
      }
    }

    let root: unknown;
    try {
      root = JSON.parse(text);
    } catch (e) {
      return this.reject(`not JSON: ${e instanceof Error ? e.message : String(e)}`);
    }

    if (Array.isArray(root)) {
      // Bare all-market streams (`!miniTicker@arr`, `!ticker@arr`) send an array of events.
      const first: unknown = root[0];
      if (isObject(first) && typeof first.e === 'string' && first.e !== 'aggTrade') return this.other(first.e);
      return this.reject('a JSON array, not an aggTrade frame');
    }
    if (!isObject(root)) return this.reject(`not a JSON object: ${show(root)}`);

    let data: JsonObject;
    let streamName: string | undefined;
    const stream = root.stream;
    if (stream !== undefined) {
      if (typeof stream !== 'string') return this.reject(`field "stream" is not a string: ${show(stream)}`);
      streamName = stream;
      const payload = root.data;
      if (payload === undefined) return this.reject('combined-stream frame without field "data"');
      if (!isObject(payload)) return this.reject(`field "data" is not an object: ${show(payload)}`);
      const isAggStream = stream.endsWith(AGG_TRADE_SUFFIX);
      const e = payload.e;
      if (e === undefined) {
        if (isAggStream) return this.reject('field "e" missing');
        // Spot bookTicker and partial-depth payloads carry no event type: the stream name says what it is.
        const at = stream.indexOf('@');
        return this.other(at >= 0 ? stream.slice(at + 1) : stream);
      }
      if (typeof e !== 'string') return this.reject(`field "e" is not a string: ${show(e)}`);
      if ((e === 'aggTrade') !== isAggStream) return this.reject(`stream ${show(stream)} carries event ${show(e)}`);
      if (!isAggStream) return this.other(e);
      data = payload;
    } else {
      const e = root.e;
      if (e === undefined) {
        // Frames without an event type that the exchange does send on a raw connection.
        if (root.id !== undefined && root.result !== undefined) return this.other('reply');
        if (root.id !== undefined && root.error !== undefined) return this.other('error');
        if (root.u !== undefined && root.b !== undefined && root.B !== undefined && root.A !== undefined) return this.other('bookTicker');
        if (root.lastUpdateId !== undefined) return this.other('depth');
        return this.reject('field "e" missing');
      }
      if (typeof e !== 'string') return this.reject(`field "e" is not a string: ${show(e)}`);
      if (e !== 'aggTrade') return this.other(e);
      data = root;
    }

    // The payload claims to be an aggTrade: from here on every problem is MALFORMED.
    const s = data.s;
    if (s === undefined) return this.reject('field "s" missing');
    if (typeof s !== 'string' || !SYMBOL.test(s)) return this.reject(`field "s" (symbol) is not an exchange symbol: ${show(s)}`);
    if (streamName !== undefined && !streamMatchesSymbol(streamName, s)) {
      return this.reject(`stream ${show(streamName)} does not match symbol ${show(s)}`);
    }

    const aggId = this.id(data, 'a', 'aggId');
    if (aggId < 0) return FrameResult.MALFORMED;
    const firstTradeId = this.id(data, 'f', 'firstTradeId');
    if (firstTradeId < 0) return FrameResult.MALFORMED;
    const lastTradeId = this.id(data, 'l', 'lastTradeId');
    if (lastTradeId < 0) return FrameResult.MALFORMED;
    if (firstTradeId > lastTradeId) return this.reject(`firstTradeId ${firstTradeId} > lastTradeId ${lastTradeId}`);
    const tradeTime = this.id(data, 'T', 'tradeTime');
    if (tradeTime < 0) return FrameResult.MALFORMED;
    const eventTime = this.id(data, 'E', 'eventTime');
    if (eventTime < 0) return FrameResult.MALFORMED;

    const price = this.positiveDecimal(data, 'p', 'price');
    if (price < 0) return FrameResult.MALFORMED;
    const quantity = this.positiveDecimal(data, 'q', 'quantity');
    if (quantity < 0) return FrameResult.MALFORMED;

    const m = data.m;
    if (m === undefined) return this.reject('field "m" missing');
    if (typeof m !== 'boolean') return this.reject(`field "m" (isBuyerMaker) is not a boolean: ${show(m)}`);

    out.symbol = s;
    out.aggId = aggId;
    out.firstTradeId = firstTradeId;
    out.lastTradeId = lastTradeId;
    out.price = price;
    out.quantity = quantity;
    out.tradeTime = tradeTime;
    out.eventTime = eventTime;
    out.isBuyerMaker = m;
    return FrameResult.OK;
  }

  private other(kind: string): typeof FrameResult.NOT_AGGTRADE {
    // The kind comes from the input and may be counted by name: keep it short.
    this.lastKind = kind.length > MAX_KIND ? kind.slice(0, MAX_KIND) + '...' : kind;
    return FrameResult.NOT_AGGTRADE;
  }

  /** A safe non-negative integer field, or -1 after setting the reason (no allocation on success). */
  private id(data: JsonObject, key: string, name: string): number {
    const v = data[key];
    if (v === undefined) {
      this.reject(`field "${key}" missing`);
      return -1;
    }
    if (typeof v !== 'number') {
      this.reject(`field "${key}" (${name}) is not a number: ${show(v)}`);
      return -1;
    }
    if (!Number.isSafeInteger(v)) {
      this.reject(`field "${key}" (${name}) is not a safe integer: ${show(v)}`);
      return -1;
    }
    if (v < 0) {
      this.reject(`field "${key}" (${name}) is negative: ${show(v)}`);
      return -1;
    }
    return v + 0; // JSON `-0` parses to -0; make it a plain 0 so ids compare and encode as expected
  }

  /** A decimal-string field converted once to a finite double > 0, or -1 after setting the reason. */
  private positiveDecimal(data: JsonObject, key: string, name: string): number {
    const v = data[key];
    if (v === undefined) {
      this.reject(`field "${key}" missing`);
      return -1;
    }
    if (typeof v !== 'string') {
      this.reject(`field "${key}" (${name}) must be a decimal string as the exchange sends it, got ${typeof v === 'number' ? 'number ' : ''}${show(v)}`);
      return -1;
    }
    if (!DECIMAL.test(v)) {
      this.reject(`field "${key}" (${name}) is not a decimal string: ${show(v)}`);
      return -1;
    }
    const n = Number(v);
    if (!Number.isFinite(n)) {
      this.reject(`field "${key}" (${name}) is not finite: ${show(v)}`);
      return -1;
    }
    if (n <= 0) {
      this.reject(`${name} must be > 0, got ${show(v)}`);
      return -1;
    }
    return n;
  }
}

/**
 * `stream` is `<symbol>@aggTrade` with the symbol compared ignoring ASCII case (the exchange lowercases it
 * in stream names), without building a lowercase copy.
 */
function streamMatchesSymbol(stream: string, symbol: string): boolean {
  if (stream.length !== symbol.length + AGG_TRADE_SUFFIX.length) return false;
  for (let i = 0; i < symbol.length; i++) {
    let a = symbol.charCodeAt(i);
    let b = stream.charCodeAt(i);
    if (a >= 65 && a <= 90) a += 32; // A-Z -> a-z; the symbol pattern admits no other cased letters
    if (b >= 65 && b <= 90) b += 32;
    if (a !== b) return false;
  }
  return true; // the suffix was checked by the caller (endsWith)
}
