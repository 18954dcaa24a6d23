/**
 * The exchange's public archive CSV of aggregate trades (the daily / monthly `aggTrades` dumps), for history
 * imports and backtests (SPEC 5: `aggregate` and `produce --source file:PATH --symbol S`):
 *
 *   agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker[,is_best_match]
 *
 * - With or without a header line (futures archives have one, spot archives none); a header is counted as a
 *   header line, like the recorder headers of frame files.
 * - Times: milliseconds, or microseconds (spot archives since 2025), or nanoseconds, told apart by magnitude
 *   (ms epochs have at most 14 digits until the year 5138). The conversion to ms drops the extra digits of the
 *   decimal text, so it is exact (floor), never a floating-point division.
 * - Booleans as the archives write them: `true`/`false` (futures), `True`/`False` (spot).
 * - The archive has no event time: `eventTime` = `tradeTime`. The symbol is not in the file: the caller names it.
 * - Lines are read by the same bounded, gzip-aware line reader as frame files (src/exchange/frame-file.ts);
 *   bad lines are counted and kept as examples in FrameStats with their line numbers, never fatal.
 *
 * The parser fills the same reusable AggTradeRecord the frame parser fills, so everything downstream (the
 * aggregator, the producer's sequencer) is the same code for both formats.
 */
import { AggTradeFrameParser, FrameResult, createAggTradeRecord, type AggTradeRecord } from './aggtrade-frame';
import { DEFAULT_MAX_LINE_BYTES, FrameFileReader, type FrameFileOptions } from './frame-file';
import type { FrameStats } from './frame-stats';
import { TIME_OK, voteUnit, type TimeRules, type TimeUnit, type TradeTimeCheck } from './trade-times';

export type FileFormat = 'frames' | 'archive-csv';

const DECIMAL = /^[0-9]+(?:\.[0-9]+)?$/;
const INTEGER = /^[0-9]+$/;
const SYMBOL = /^[A-Z0-9_\p{Lo}]{1,40}$/u;
/** A header line: the first field is a name, not a number (`agg_trade_id`, `id`, ...). */
const HEADER = /^[A-Za-z_][A-Za-z_ ]*(,[A-Za-z_ ]+){5,}$/;
/** ms epochs below 10^14 (year 5138); µs below 10^17; ns above. */
const MS_DIGITS_MAX = 14;
const US_DIGITS_MAX = 17;
const MAX_QUOTE = 60;

function quote(s: string): string {
  return JSON.stringify(s.length > MAX_QUOTE ? s.slice(0, MAX_QUOTE) + '...' : s);
}

/** `transact_time` text in ms, us or ns to epoch milliseconds (floor), or -1 when it is not a time. */
export function archiveTimeToMs(text: string): number {
  if (!INTEGER.test(text)) return -1;
  const digits = text.replace(/^0+(?=\d)/, '');
  let ms: string;
  if (digits.length <= MS_DIGITS_MAX) ms = digits;
  else if (digits.length <= US_DIGITS_MAX) ms = digits.slice(0, digits.length - 3);
  else if (digits.length <= US_DIGITS_MAX + 3) ms = digits.slice(0, digits.length - 6);
  else return -1;
  const n = Number(ms);
  return Number.isSafeInteger(n) ? n : -1;
}

/** The unit a `transact_time` text is written in, by its digits (as archiveTimeToMs reads it). */
export function archiveTimeUnit(text: string): TimeUnit {
  const digits = text.replace(/^0+(?=\d)/, '').length;
  return digits <= MS_DIGITS_MAX ? 'ms' : digits <= US_DIGITS_MAX ? 'us' : 'ns';
}

function parseBool(text: string): boolean | undefined {
  if (text === 'true' || text === 'True' || text === 'TRUE') return true;
  if (text === 'false' || text === 'False' || text === 'FALSE') return false;
  return undefined;
}

/**
 * One archive CSV line to an AggTradeRecord. Like the frame parser it never throws: `parse` returns a
 * FrameResult and keeps the reason of a MALFORMED line in `reason`. A header line is NOT_AGGTRADE with kind
 * `header`. `out` is written only on OK.
 */
export class ArchiveCsvParser {
  private lastReason = '';
  private lastKind = '';
  private lastUnit: TimeUnit = 'ms';

  constructor(readonly symbol: string) {
    if (!SYMBOL.test(symbol)) throw new RangeError(`not an exchange symbol: ${JSON.stringify(symbol)}`);
  }

  get reason(): string {
    return this.lastReason;
  }

  get kind(): string {
    return this.lastKind;
  }

  /** The unit the last OK line's transact_time was written in (its value in the record is ms). */
  get unit(): TimeUnit {
    return this.lastUnit;
  }

  private reject(reason: string): typeof FrameResult.MALFORMED {
    this.lastReason = reason;
    return FrameResult.MALFORMED;
  }

  /** Marks the last line MALFORMED for a reason found after parsing (an implausible time). */
  rejectWith(reason: string): typeof FrameResult.MALFORMED {
    return this.reject(reason);
  }

  parse(line: string | Uint8Array, out: AggTradeRecord): FrameResult {
    this.lastReason = '';
    this.lastKind = '';
    const text = typeof line === 'string' ? line.trim() : Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString('latin1').trim();
    const f = text.split(',');
    if (f.length !== 7 && f.length !== 8) {
      if (HEADER.test(text)) {
        this.lastKind = 'header';
        return FrameResult.NOT_AGGTRADE;
      }
      return this.reject(`expected 7 or 8 comma-separated fields (agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker), got ${f.length}: ${quote(text)}`);
    }
    if (!INTEGER.test(f[0]!) && HEADER.test(text)) {
      this.lastKind = 'header';
      return FrameResult.NOT_AGGTRADE;
    }
    const aggId = this.id(f[0]!, 'agg_trade_id');
    if (aggId < 0) return FrameResult.MALFORMED;
    const price = this.decimal(f[1]!, 'price');
    if (price < 0) return FrameResult.MALFORMED;
    const quantity = this.decimal(f[2]!, 'quantity');
    if (quantity < 0) return FrameResult.MALFORMED;
    const firstTradeId = this.id(f[3]!, 'first_trade_id');
    if (firstTradeId < 0) return FrameResult.MALFORMED;
    const lastTradeId = this.id(f[4]!, 'last_trade_id');
    if (lastTradeId < 0) return FrameResult.MALFORMED;
    if (firstTradeId > lastTradeId) return this.reject(`first_trade_id ${firstTradeId} > last_trade_id ${lastTradeId}`);
    const tradeTime = archiveTimeToMs(f[5]!);
    if (tradeTime < 0) return this.reject(`field transact_time is not an epoch time in ms, us or ns: ${quote(f[5]!)}`);
    this.lastUnit = archiveTimeUnit(f[5]!);
    const maker = parseBool(f[6]!);
    if (maker === undefined) return this.reject(`field is_buyer_maker is not true or false: ${quote(f[6]!)}`);
    if (f.length === 8 && parseBool(f[7]!) === undefined) return this.reject(`field is_best_match is not true or false: ${quote(f[7]!)}`);
    out.symbol = this.symbol;
    out.aggId = aggId;
    out.firstTradeId = firstTradeId;
    out.lastTradeId = lastTradeId;
    out.price = price;
    out.quantity = quantity;
    out.tradeTime = tradeTime;
    out.eventTime = tradeTime;
    out.isBuyerMaker = maker;
    return FrameResult.OK;
  }

  private id(text: string, name: string): number {
    if (!INTEGER.test(text)) {
      this.reject(`field ${name} is not a non-negative integer: ${quote(text)}`);
      return -1;
    }
    const n = Number(text);
    if (!Number.isSafeInteger(n)) {
      this.reject(`field ${name} is not a safe integer: ${quote(text)}`);
      return -1;
    }
    return n;
  }

  private decimal(text: string, name: string): number {
    if (!DECIMAL.test(text)) {
      this.reject(`field ${name} is not a decimal: ${quote(text)}`);
      return -1;
    }
    const n = Number(text);
    if (!(n > 0) || !Number.isFinite(n)) {
      this.reject(`${name} must be > 0, got ${quote(text)}`);
      return -1;
    }
    return n;
  }
}

/**
 * Counts one CSV parse result into `stats` (through a frame parser carrying the reason, which is what
 * FrameStats reads), so both formats report bad lines the same way.
 */
export function recordCsvResult(stats: FrameStats, result: FrameResult, lineNo: number, csv: ArchiveCsvParser, carrier: AggTradeFrameParser, line: Uint8Array): void {
  if (result === FrameResult.MALFORMED) {
    carrier.reject(csv.reason);
    stats.record(result, lineNo, carrier, line);
  } else if (result === FrameResult.NOT_AGGTRADE) {
    // A header line: counted with the skipped header lines, not as a frame.
    stats.headerLines++;
  } else {
    stats.record(result, lineNo, carrier, line);
  }
}

/**
 * Every aggregate trade of an archive CSV, in file order; bad lines counted into `stats`. Yields the same
 * record object each time, refilled: use it before asking for the next one.
 */
export async function* readArchiveCsv(path: string, symbol: string, stats: FrameStats, options: FrameFileOptions & { times?: TradeTimeCheck } = {}): AsyncGenerator<AggTradeRecord> {
  const reader = new FrameFileReader(path, options);
  const csv = new ArchiveCsvParser(symbol);
  const carrier = new AggTradeFrameParser();
  const out = createAggTradeRecord();
  const limit = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const times = options.times;
  try {
    for await (const line of reader) {
      if (line.oversizeBytes > 0) {
        stats.record(carrier.reject(`line is ${line.oversizeBytes} bytes, over the ${limit}-byte limit`), line.lineNo, carrier, line.frame);
        continue;
      }
      let result = csv.parse(line.frame, out);
      // An implausible time is a bad line like any other (docs/times.md).
      if (result === FrameResult.OK && times !== undefined && times.checkConverted(out, csv.unit, NaN) !== TIME_OK) {
        result = csv.rejectWith(times.reason);
      }
      recordCsvResult(stats, result, line.lineNo, csv, carrier, line.frame);
      if (result === FrameResult.OK) yield out;
    }
  } finally {
    stats.blankLines += reader.blankLines;
    stats.headerLines += reader.headerLines;
  }
}

/**
 * What a file holds, from its first non-blank line: an archive CSV (digits then a comma, or a CSV header
 * naming agg_trade_id) or recorded frames (anything else, which the frame parser then judges).
 */
export async function detectFileFormat(path: string): Promise<FileFormat> {
  const reader = new FrameFileReader(path, { maxLineBytes: 64 * 1024 });
  for await (const line of reader) {
    const head = line.frame.toString('latin1', 0, Math.min(line.frame.length, 200)).trim();
    if (/^[0-9]+,/.test(head) || /^agg_trade_id\s*,/i.test(head) || /^id,price,/i.test(head)) return 'archive-csv';
    return 'frames';
  }
  return 'frames';
}

/** How many trades of a file vote on its time unit. */
const UNIT_VOTES = 1000;

/**
 * The time unit of a file (docs/times.md): the unit most of its first 1,000 trades are written in, so one odd
 * trade (or a few) cannot decide it. An archive CSV votes with the digits of transact_time, a frames file
 * with the magnitude of T. Reads at most those lines, then closes the file.
 */
export async function detectTimeUnit(path: string, format: FileFormat, rules: TimeRules): Promise<TimeUnit> {
  const reader = new FrameFileReader(path, { maxLineBytes: 64 * 1024 });
  const frames = new AggTradeFrameParser();
  const csv = new ArchiveCsvParser('UNIT');
  const r = createAggTradeRecord();
  const votes: number[] = [];
  const units: TimeUnit[] = [];
  for await (const line of reader) {
    if (line.oversizeBytes > 0) continue;
    if (format === 'archive-csv') {
      if (csv.parse(line.frame, r) === FrameResult.OK) units.push(csv.unit);
    } else if (frames.parse(line.frame, r) === FrameResult.OK) {
      votes.push(r.tradeTime);
    }
    if (votes.length + units.length >= UNIT_VOTES) break;
  }
  if (format !== 'archive-csv') return voteUnit(votes, rules);
  const n = { ms: 0, us: 0, ns: 0 };
  for (const u of units) n[u]++;
  return n.us > n.ms && n.us >= n.ns ? 'us' : n.ns > n.ms && n.ns > n.us ? 'ns' : 'ms';
}
