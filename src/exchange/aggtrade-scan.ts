/**
 * Byte-level fast path for AggTradeFrameParser: reads an aggTrade frame straight from its bytes, without
 * UTF-8 decoding, JSON.parse or any allocation per frame, into the caller's reused AggTradeRecord.
 *
 * Why: JSON.parse builds two objects and ~12 strings per frame; with decoding and validation that made the
 * producer's per-frame path slower than a naive JSON.parse producer. Nearly every frame has the same plain
 * shape, so it is read directly here and only the unusual ones pay for the general path.
 *
 * The contract is all-or-nothing: `scan` returns true only for a frame the general path would accept with
 * exactly the same record, and otherwise returns false WITHOUT touching `out`, so the caller falls back to
 * the general (JSON.parse) path, which then produces the result, reason and kind. The scanner never
 * reports an error itself.
 *
 * What it accepts (a strict subset of JSON that the general path would parse to OK):
 * - `{"stream":"<printable ASCII>","data":{...}}` exactly in that order (combined stream), or the bare
 *   `{...}` payload (raw stream) with no key "stream"; no whitespace anywhere, nothing after the last `}`.
 * - In the payload, keys in any order, each of e E s a p q f l T m exactly once, and any number of other
 *   keys (spot's "M", "nq", "X", ...) whose value is a string, a JSON number, true, false or null.
 * - "e" is "aggTrade"; "s" is 1-40 of [A-Z0-9_] and the stream (if any) is `<symbol, any ASCII case>@aggTrade`.
 * - Ids and times are JSON integers without sign, fraction or exponent, at most 2^53-1.
 * - "p"/"q" are `digits[.digits]` strings with at most 15 significant digits and at most 22 fraction
 *   digits, value > 0: the digits form an exact integer mantissa M < 10^15 and the value is M / 10^k with
 *   10^k exact, a single correctly rounded division, hence the same double as Number(text).
 * - Every string (keys and values) is printable ASCII without backslash escapes, so the bytes are valid UTF-8.
 * Anything else (whitespace, escapes, non-ASCII, exponents, signs, other event types, replies, duplicate
 * or missing keys, nested values in unknown keys, a bad value of any kind) is declined.
 *
 * String frames are copied into a scratch buffer with Buffer.write (no allocation); a string with non-ASCII
 * characters then has more bytes than characters and is declined.
 *
 * Symbols are interned in a small hash table: a frame of an already seen symbol gets the same string
 * object, so `out.symbol` costs nothing; only a new symbol (or a colliding one) allocates its string.
 */

import type { AggTradeRecord } from './aggtrade-frame';

const Q = 0x22; // "
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const DOT = 0x2e;
const MINUS = 0x2d;
const PLUS = 0x2b;
const ZERO = 0x30;
const NINE = 0x39;
const BACKSLASH = 0x5c;

/** `"stream":"` after the opening brace. */
const STREAM_KEY = bytes('"stream":"');
/** `,"data":` after the stream name's closing quote. */
const DATA_KEY = bytes(',"data":');
/** The value of "e", quotes included. */
const AGG_TRADE_VALUE = bytes('"aggTrade"');
const AGG_TRADE_SUFFIX = bytes('@aggTrade');
const STREAM_NAME = bytes('stream');
const TRUE = bytes('true');
const FALSE = bytes('false');
const NULL = bytes('null');

const MAX_SYMBOL = 40;
/** Exact doubles 1e0 .. 1e22 (every power of ten up to 1e22 is representable exactly). */
const POW10: readonly number[] = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));
const MAX_SIG_DIGITS = 15;
const MAX_INT_DIGITS = 16;

/** Longest string frame scanned; longer ones (never an aggTrade frame) are declined. */
const MAX_STRING_CHARS = 2048;
const SYMBOL_TABLE_SIZE = 1024; // power of two; Binance lists ~2,000 symbols but a connection carries far fewer

// Field bits, one per required payload key.
const F_E = 1 << 0; // "e"
const F_EVENT_TIME = 1 << 1; // "E"
const F_S = 1 << 2;
const F_A = 1 << 3;
const F_P = 1 << 4;
const F_Q = 1 << 5;
const F_F = 1 << 6;
const F_L = 1 << 7;
const F_T = 1 << 8;
const F_M = 1 << 9;
const F_ALL = (1 << 10) - 1;

function bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

/** Whether `b` holds `lit` at `i` (stops at the first mismatch, so never reads past a shorter input). */
function matches(b: Uint8Array, i: number, lit: Uint8Array): boolean {
  for (let j = 0; j < lit.length; j++) if (b[i + j] !== lit[j]) return false;
  return true;
}

/** A string body that needs no decoding: printable ASCII, no quote, no backslash. */
function isPlain(c: number): boolean {
  return c >= 0x20 && c < 0x7f && c !== BACKSLASH;
}

/** Index after the closing quote of a plain string whose body starts at `i`, or -1. */
function skipPlainString(b: Uint8Array, i: number): number {
  for (;;) {
    const c = b[i]!;
    if (c === Q) return i + 1;
    if (!isPlain(c)) return -1;
    i++;
  }
}

/** Index after a JSON number (full grammar) starting at `i`, or -1. */
function skipNumber(b: Uint8Array, i: number): number {
  if (b[i] === MINUS) i++;
  if (b[i] === ZERO) i++;
  else if (isDigit(b[i]!)) while (isDigit(b[i]!)) i++;
  else return -1;
  if (b[i] === DOT) {
    i++;
    if (!isDigit(b[i]!)) return -1;
    while (isDigit(b[i]!)) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === PLUS || b[i] === MINUS) i++;
    if (!isDigit(b[i]!)) return -1;
    while (isDigit(b[i]!)) i++;
  }
  return i;
}

/** Index after the value of an ignored key (string, number, true, false, null), or -1 for anything else. */
function skipValue(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c === Q) return skipPlainString(b, i + 1);
  if (c === 0x74) return matches(b, i, TRUE) ? i + TRUE.length : -1;
  if (c === 0x66) return matches(b, i, FALSE) ? i + FALSE.length : -1;
  if (c === 0x6e) return matches(b, i, NULL) ? i + NULL.length : -1;
  return skipNumber(b, i);
}

/** ASCII lowercase of A-Z (what the general path's stream/symbol comparison folds). */
function fold(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 32 : c;
}

/** Scans frames for one AggTradeFrameParser. Holds scratch state only; not shared between parsers. */
export class AggTradeScanner {
  /** For string frames, allocated on the first one (3 bytes per UTF-16 unit at most, plus the sentinel). */
  private scratch: Buffer | null = null;
  private readonly symbols: string[] = new Array<string>(SYMBOL_TABLE_SIZE).fill('');
  private readonly ascii = new TextDecoder('latin1');
  // Results of the last number scan (fields, not a returned object, so that nothing is allocated).
  private num = 0;
  private symbol = '';

  /** Fills `out` and returns true when the frame is a plain aggTrade the general path accepts; else false, `out` untouched. */
  scan(frame: string | Uint8Array, out: AggTradeRecord): boolean {
    let b: Uint8Array;
    let end: number;
    if (typeof frame === 'string') {
      if (frame.length > MAX_STRING_CHARS) return false;
      const scratch = (this.scratch ??= Buffer.allocUnsafeSlow(MAX_STRING_CHARS * 3 + 1));
      end = scratch.write(frame, 0, 'utf8');
      b = scratch;
      if (end !== frame.length) return false; // non-ASCII characters take more than one byte
      b[end] = 0; // sentinel: no scan below accepts a 0 byte, so none reads past `end`
    } else {
      b = frame;
      end = frame.length; // reads at `end` give undefined, which no scan below accepts
    }
    if (b[0] !== LBRACE) return false;

    let i: number;
    let streamStart = -1;
    let streamEnd = -1;
    const combined = matches(b, 1, STREAM_KEY);
    if (combined) {
      streamStart = 1 + STREAM_KEY.length;
      i = skipPlainString(b, streamStart);
      if (i < 0) return false;
      streamEnd = i - 1;
      if (!matches(b, i, DATA_KEY)) return false;
      i += DATA_KEY.length;
      if (b[i] !== LBRACE) return false;
    } else {
      i = 0;
    }

    // The payload object, keys in any order.
    let seen = 0;
    let eventTime = 0, aggId = 0, firstTradeId = 0, lastTradeId = 0, tradeTime = 0, price = 0, quantity = 0;
    let isBuyerMaker = false;
    let symStart = 0;
    let symEnd = 0;
    i++;
    for (;;) {
      if (b[i] !== Q) return false;
      const k = b[i + 1]!;
      if (b[i + 2] === Q && b[i + 3] === COLON && isPlain(k) && k !== Q) {
        i += 4;
        let bit: number;
        switch (k) {
          case 0x65: // e
            bit = F_E;
            if (!matches(b, i, AGG_TRADE_VALUE)) return false;
            i += AGG_TRADE_VALUE.length;
            break;
          case 0x73: // s
            bit = F_S;
            if (b[i] !== Q) return false;
            symStart = ++i;
            for (;;) {
              const c = b[i]!;
              if ((c >= 0x41 && c <= 0x5a) || isDigit(c) || c === 0x5f) i++;
              else break;
            }
            symEnd = i;
            if (b[i] !== Q || symEnd === symStart || symEnd - symStart > MAX_SYMBOL) return false;
            i++;
            break;
          case 0x70: // p
          case 0x71: // q
            bit = k === 0x70 ? F_P : F_Q;
            i = this.decimal(b, i);
            if (i < 0) return false;
            if (k === 0x70) price = this.num;
            else quantity = this.num;
            break;
          case 0x6d: // m
            bit = F_M;
            if (matches(b, i, TRUE)) {
              isBuyerMaker = true;
              i += TRUE.length;
            } else if (matches(b, i, FALSE)) {
              isBuyerMaker = false;
              i += FALSE.length;
            } else {
              return false;
            }
            break;
          case 0x45: // E
          case 0x61: // a
          case 0x66: // f
          case 0x6c: // l
          case 0x54: // T
            i = this.integer(b, i);
            if (i < 0) return false;
            if (k === 0x45) {
              bit = F_EVENT_TIME;
              eventTime = this.num;
            } else if (k === 0x61) {
              bit = F_A;
              aggId = this.num;
            } else if (k === 0x66) {
              bit = F_F;
              firstTradeId = this.num;
            } else if (k === 0x6c) {
              bit = F_L;
              lastTradeId = this.num;
            } else {
              bit = F_T;
              tradeTime = this.num;
            }
            break;
          default: // another one-letter key ("M", "X", ...): ignored
            bit = 0;
            i = skipValue(b, i);
            if (i < 0) return false;
        }
        if ((seen & bit) !== 0) return false; // a repeated key: JSON.parse keeps the last one
        seen |= bit;
      } else {
        const keyEnd = skipPlainString(b, i + 1);
        if (keyEnd < 0 || b[keyEnd] !== COLON) return false;
        // A raw frame with a "stream" key is read as a combined one by the general path.
        if (!combined && keyEnd - i === 8 && matches(b, i + 1, STREAM_NAME)) return false;
        i = skipValue(b, keyEnd + 1);
        if (i < 0) return false;
      }
      const c = b[i];
      if (c === COMMA) {
        i++;
      } else if (c === RBRACE) {
        i++;
        break;
      } else {
        return false;
      }
    }
    if (combined) {
      if (b[i] !== RBRACE) return false;
      i++;
    }
    if (i !== end || seen !== F_ALL) return false;
    if (firstTradeId > lastTradeId) return false;

    if (combined) {
      const symLen = symEnd - symStart;
      if (streamEnd - streamStart !== symLen + AGG_TRADE_SUFFIX.length) return false;
      if (!matches(b, streamStart + symLen, AGG_TRADE_SUFFIX)) return false;
      for (let j = 0; j < symLen; j++) if (fold(b[streamStart + j]!) !== fold(b[symStart + j]!)) return false;
    }
    if (!this.intern(b, symStart, symEnd)) return false;

    out.symbol = this.symbol;
    out.aggId = aggId;
    out.firstTradeId = firstTradeId;
    out.lastTradeId = lastTradeId;
    out.price = price;
    out.quantity = quantity;
    out.tradeTime = tradeTime;
    out.eventTime = eventTime;
    out.isBuyerMaker = isBuyerMaker;
    return true;
  }

  /** A JSON integer without sign, fraction or exponent, <= 2^53-1, into `num`; index after it or -1. */
  private integer(b: Uint8Array, i: number): number {
    const start = i;
    let v = 0;
    let c = b[i]!;
    if (c === ZERO) {
      this.num = 0;
      return i + 1; // a digit after it is no valid delimiter, so the caller declines "01"
    }
    while (isDigit(c)) {
      v = v * 10 + (c - ZERO);
      c = b[++i]!;
    }
    // Up to 16 digits the running value is exact below 2^53 and rounds to >= 2^53 above it.
    if (i === start || i - start > MAX_INT_DIGITS || v > Number.MAX_SAFE_INTEGER) return -1;
    this.num = v;
    return i;
  }

  /** A `"digits[.digits]"` string > 0 into `num` as Number() would convert it; index after the quote or -1. */
  private decimal(b: Uint8Array, i: number): number {
    if (b[i] !== Q) return -1;
    i++;
    let m = 0;
    let sig = 0;
    let c = b[i]!;
    if (!isDigit(c)) return -1;
    while (isDigit(c)) {
      if (m !== 0 || c !== ZERO) {
        m = m * 10 + (c - ZERO);
        sig++;
      }
      c = b[++i]!;
    }
    let frac = 0;
    if (c === DOT) {
      c = b[++i]!;
      if (!isDigit(c)) return -1;
      while (isDigit(c)) {
        if (m !== 0 || c !== ZERO) {
          m = m * 10 + (c - ZERO);
          sig++;
        }
        frac++;
        c = b[++i]!;
      }
    }
    if (c !== Q || sig > MAX_SIG_DIGITS || frac >= POW10.length || m === 0) return -1;
    // m < 10^15 is exact and so is 10^frac: one IEEE division, correctly rounded like Number(text).
    this.num = frac === 0 ? m : m / POW10[frac]!;
    return i + 1;
  }

  /** Sets `symbol` to the interned string of the ASCII bytes [start, end); false if it cannot. */
  private intern(b: Uint8Array, start: number, end: number): boolean {
    let h = 0x811c9dc5;
    for (let j = start; j < end; j++) h = Math.imul(h ^ b[j]!, 0x01000193);
    const slot = (h >>> 0) & (SYMBOL_TABLE_SIZE - 1);
    const cached = this.symbols[slot]!;
    const len = end - start;
    if (cached.length === len) {
      let same = true;
      for (let j = 0; j < len; j++) {
        if (cached.charCodeAt(j) !== b[start + j]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.symbol = cached;
        return true;
      }
    }
    const s = this.ascii.decode(b.subarray(start, end));
    if (s.length !== len) return false;
    this.symbols[slot] = s;
    this.symbol = s;
    return true;
  }
}
