/**
 * Hand-compiled Avro reader and writer for exactly the registered Trade schema (schemas/trade.avsc), in the
 * Confluent wire format, for the per-record hot paths: nothing is allocated per record (no object, closure,
 * Map, BigInt, string or boxed double). avsc (AvroCodec) stays the path for every other writer schema id.
 *
 * Body layout, in schema field order: kind (enum index, zigzag varint), symbolIndex (int), aggId,
 * firstTradeId, lastTradeId (long), price, quantity (double, 8 bytes little-endian), tradeTime, eventTime
 * (long), isBuyerMaker (boolean, 1 byte), targetPartition (int).
 *
 * Writer (`TradeWireWriter.writeFrom`): values come from struct-of-arrays columns (`TradeRecordColumns`, e.g.
 * the producer's OutgoingBuffer) by row index, so no double is ever passed as an argument (V8 boxes a double
 * argument of a call it does not inline). Longs must be integers in [-2^52, 2^53 - 2], the range avsc 5.7
 * round-trips exactly; the zigzag varint is computed with exact float arithmetic (no 32-bit bit operation on
 * a value beyond 32 bits). Output is byte-identical to avsc for every value both accept.
 *
 * Reader (`TradeWireReader.read`): decodes straight into TradeColumns (TRADE) or into number fields of the
 * reader (WATERMARK, HANDOVER) and returns the kind, or a negative code. It never throws on any bytes and
 * never reads outside [start, end). Accepted inputs and decoded values are those of avsc (its varint
 * arithmetic is replayed with the same float operations; only its `f % 2`, an fmod call in V8, is replaced by
 * an equivalent parity test), with two deliberate differences, both inputs avsc would turn into silently
 * wrong numbers:
 *   - an `int` field whose varint is not a 32-bit value (avsc returns any number, even NaN): TRADE_BAD_INT;
 *   - a `long` whose exact value is below -2^52 (avsc's arithmetic rounds it and flips its sign, e.g. the
 *     bytes of -2^52 - 1 decode as +2^52): TRADE_BAD_LONG.
 * As in avsc, a boolean byte other than 0 reads as true, and a varint may carry padding bytes (0x80 ...).
 *
 * Schema ids. A reader is built for the one writer schema id whose schema is the catalogue's Trade schema
 * (check with `sameSchema(registryText, catalogue.get('Trade'))`). A record with any other id returns
 * TRADE_OTHER_SCHEMA without touching the columns: the caller decodes it with AvroCodec (which resolves an
 * older or newer writer schema), fetching the id first if needed.
 */
import * as os from 'node:os';
import * as avro from 'avsc';
import type { TradeColumns } from '../aggregation/trade-columns';
import { KlinestreamError, type ErrorCode } from '../errors';
import type { ArenaEncoder } from './encode-arena';
import { avscOptions, type CatalogueEntry } from './schema-catalogue';
import { HEADER_LENGTH, MAGIC_BYTE } from './wire-format';

// ---------------------------------------------------------------------------------------------------------
// Shared primitives (kline-wire.ts uses them too). Helpers take (array, row) and return a position, never a
// double: the value travels through typed arrays, so a helper that V8 does not inline still boxes nothing.

/** Smallest long the writers accept: avsc 5.7 encodes and decodes longs below it wrongly (docs/codec.md). */
export const LONG_MIN = -(2 ** 52);
/** Largest long the writers accept: avsc's own limit (`isSafeLong`). */
export const LONG_MAX = 2 ** 53 - 2;
const TWO_32 = 2 ** 32;
const TWO_53 = 2 ** 53;

const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
/** Avro doubles are little-endian; XOR of the byte index on a big-endian host. */
const BYTE_ORDER = os.endianness() === 'LE' ? 0 : 7;

/** Decoded varint of `readVarint`: [value, 1 when the exact value is below -2^52 (avsc gets it wrong)]. */
const VAL = new Float64Array(2);

/**
 * Writes the Avro long `src[i]` (zigzag varint) at `pos` and returns the end, or -1 when `src[i]` is not an
 * integer in [LONG_MIN, LONG_MAX]. The caller guarantees 8 bytes of room (the most such a long takes).
 */
export function writeLongAt(src: Float64Array, i: number, t: Uint8Array, pos: number): number {
  const v = src[i]!;
  if (!(v >= LONG_MIN && v <= LONG_MAX) || v !== Math.floor(v)) return -1;
  // Zigzag in float arithmetic, exact for |v| < 2^53 (2v is exact, and -2v - 1 <= 2^53 - 1 here), then split
  // into 32-bit halves (exact: division by a power of two) so the 7-bit groups come from integer operations
  // on 32-bit values only. No `%` on doubles: V8 compiles that to a call to fmod.
  const z = v >= 0 ? v * 2 : -2 * v - 1;
  let hi = Math.floor(z / TWO_32);
  let lo = (z - hi * TWO_32) >>> 0;
  while (hi !== 0) {
    t[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo >= 128) {
    t[pos++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  t[pos++] = lo;
  return pos;
}

/** Bytes `writeLongAt` writes for `src[i]`, or -1 when it is not a valid long. */
export function longBytesAt(src: Float64Array, i: number): number {
  const v = src[i]!;
  if (!(v >= LONG_MIN && v <= LONG_MAX) || v !== Math.floor(v)) return -1;
  let z = v >= 0 ? v * 2 : -2 * v - 1;
  let n = 1;
  while (z >= 128) {
    z = Math.floor(z / 128);
    n++;
  }
  return n;
}

/** Writes the Avro int `src[i]` (zigzag varint, at most 5 bytes) at `pos`; returns the end. */
export function writeIntAt(src: Int32Array, i: number, t: Uint8Array, pos: number): number {
  const v = src[i]! | 0;
  let z = ((v << 1) ^ (v >> 31)) >>> 0;
  while (z >= 128) {
    t[pos++] = (z & 0x7f) | 0x80;
    z >>>= 7;
  }
  t[pos++] = z;
  return pos;
}

export function intBytesAt(src: Int32Array, i: number): number {
  const v = src[i]! | 0;
  let z = ((v << 1) ^ (v >> 31)) >>> 0;
  let n = 1;
  while (z >= 128) {
    z >>>= 7;
    n++;
  }
  return n;
}

/** Writes the Avro double `src[i]` (IEEE 754 bits, little-endian) at `pos`; returns `pos + 8`. */
export function writeDoubleAt(src: Float64Array, i: number, t: Uint8Array, pos: number): number {
  F64[0] = src[i]!;
  t[pos] = F64_BYTES[BYTE_ORDER]!;
  t[pos + 1] = F64_BYTES[1 ^ BYTE_ORDER]!;
  t[pos + 2] = F64_BYTES[2 ^ BYTE_ORDER]!;
  t[pos + 3] = F64_BYTES[3 ^ BYTE_ORDER]!;
  t[pos + 4] = F64_BYTES[4 ^ BYTE_ORDER]!;
  t[pos + 5] = F64_BYTES[5 ^ BYTE_ORDER]!;
  t[pos + 6] = F64_BYTES[6 ^ BYTE_ORDER]!;
  t[pos + 7] = F64_BYTES[7 ^ BYTE_ORDER]!;
  return pos + 8;
}

/** Writes the 5-byte Confluent header (magic 0, big-endian schema id) at `pos`; returns `pos + 5`. */
export function writeWireHeader(t: Uint8Array, pos: number, schemaId: number): number {
  t[pos] = MAGIC_BYTE;
  t[pos + 1] = schemaId >>> 24;
  t[pos + 2] = schemaId >>> 16;
  t[pos + 3] = schemaId >>> 8;
  t[pos + 4] = schemaId;
  return pos + HEADER_LENGTH;
}

/**
 * avsc's `Tap.readLong` (which `readInt` shares), operation for operation, so values and NaN/rounding
 * corners come out identical; except that it never reads at or past `end`: a missing byte reads as 0, which
 * is what avsc gets from `buf[pos]` beyond the buffer (undefined). The value goes to VAL[0]; VAL[1] is 1
 * when the exact value is odd-zigzag (negative) with a zigzag >= 2^53, i.e. below -2^52, where avsc's float
 * accumulation rounds and the sign flips. Returns the position after the varint (past `end` = truncated).
 */
function readVarint(buf: Uint8Array, pos: number, end: number): number {
  let n = 0;
  let k = 0;
  let b = 0;
  let h = 0;
  do {
    b = pos < end ? buf[pos]! : 0;
    pos++;
    h = b & 0x80;
    n |= (b & 0x7f) << k;
    k += 7;
  } while (h !== 0 && k < 28);
  if (h !== 0) {
    let f = n;
    let fk = 268435456; // 2 ** 28
    do {
      b = pos < end ? buf[pos]! : 0;
      pos++;
      f += (b & 0x7f) * fk;
      fk *= 128;
    } while ((b & 0x80) !== 0);
    // avsc: `(f % 2 ? -(f + 1) : f) / 2`. Without fmod: below 2^53 the sum is exact and its parity is that of
    // the first byte (n & 1); at or above 2^53 every double is even (f % 2 = 0); NaN (fk overflowed to
    // Infinity under a long padding) and Infinity give NaN, falsy: both fail `f < TWO_53` alike.
    const odd = (n & 1) !== 0;
    VAL[0] = (odd && f < TWO_53 ? -(f + 1) : f) / 2;
    // The exact zigzag is odd (a negative long) and >= 2^53 (below -2^52): avsc's sum was rounded. The float
    // sum is >= 2^53 iff the exact one is (rounding is monotonic and 2^53 is a double).
    VAL[1] = odd && f >= TWO_53 ? 1 : 0;
  } else {
    VAL[0] = (n >> 1) ^ -(n & 1);
    VAL[1] = 0;
  }
  return pos;
}

/**
 * Whether the varint just read (VAL) is a long avsc accepts (`isSafeLong`) and decodes exactly. Reads VAL
 * itself rather than taking the value: a double argument to a call V8 does not inline would be boxed.
 */
function longOk(): boolean {
  const v = VAL[0]!;
  return v >= -LONG_MAX && v <= LONG_MAX && VAL[1] === 0;
}

/** Reads 8 little-endian bytes at `pos` into F64[0]; the caller checked `pos + 8 <= end`. */
function readDoubleBits(buf: Uint8Array, pos: number): void {
  F64_BYTES[BYTE_ORDER] = buf[pos]!;
  F64_BYTES[1 ^ BYTE_ORDER] = buf[pos + 1]!;
  F64_BYTES[2 ^ BYTE_ORDER] = buf[pos + 2]!;
  F64_BYTES[3 ^ BYTE_ORDER] = buf[pos + 3]!;
  F64_BYTES[4 ^ BYTE_ORDER] = buf[pos + 4]!;
  F64_BYTES[5 ^ BYTE_ORDER] = buf[pos + 5]!;
  F64_BYTES[6 ^ BYTE_ORDER] = buf[pos + 6]!;
  F64_BYTES[7 ^ BYTE_ORDER] = buf[pos + 7]!;
}

export function checkWireSchemaId(id: number, what: string): void {
  if (!Number.isInteger(id) || id < -0x80000000 || id > 0x7fffffff) {
    throw new KlinestreamError('CODEC_UNKNOWN_SCHEMA', `${what}: schema id ${id} is not a 32-bit integer`, { schemaId: id });
  }
}

/**
 * Whether a writer schema (Avro JSON text, e.g. from the registry) is the catalogue entry's schema in
 * canonical form (avsc `Type.equals`: names, types, field order and enum symbols; docs and defaults do not
 * change the binary layout). Unparsable or uncompilable text is simply not the same schema.
 */
export function sameSchema(writerSchemaText: string, catalogueEntry: CatalogueEntry): boolean {
  let writer: avro.Type;
  try {
    writer = avro.Type.forSchema(JSON.parse(writerSchemaText) as avro.Schema, avscOptions());
  } catch {
    return false;
  }
  return writer.equals(catalogueEntry.type);
}

/** Throws SCHEMA_CATALOGUE when `entry` is not the layout a compiled reader/writer was written for. */
export function assertCompiledLayout(entry: CatalogueEntry, layout: avro.Type, what: string): void {
  if (!entry.type.equals(layout)) {
    throw new KlinestreamError(
      'SCHEMA_CATALOGUE',
      `${what} is compiled for ${JSON.stringify(layout.schema())}, but the catalogue's ${entry.name} schema (${entry.file}) is now ${JSON.stringify(entry.type.schema())}: update the compiled codec with the schema`,
      { file: entry.file, schema: entry.name },
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Trade

/** The Trade layout this file is compiled for (canonical form of schemas/trade.avsc). */
export const TRADE_LAYOUT_SCHEMA = {
  type: 'record',
  name: 'Trade',
  namespace: 'io.klinestream',
  fields: [
    { name: 'kind', type: { type: 'enum', name: 'TradeKind', symbols: ['TRADE', 'WATERMARK', 'HANDOVER'] } },
    { name: 'symbolIndex', type: 'int' },
    { name: 'aggId', type: 'long' },
    { name: 'firstTradeId', type: 'long' },
    { name: 'lastTradeId', type: 'long' },
    { name: 'price', type: 'double' },
    { name: 'quantity', type: 'double' },
    { name: 'tradeTime', type: 'long' },
    { name: 'eventTime', type: 'long' },
    { name: 'isBuyerMaker', type: 'boolean' },
    { name: 'targetPartition', type: 'int' },
  ],
} as const;

let tradeLayout: avro.Type | undefined;

/** The compiled Trade layout as an avsc Type (built once). */
export function tradeLayoutType(): avro.Type {
  return (tradeLayout ??= avro.Type.forSchema(TRADE_LAYOUT_SCHEMA as unknown as avro.Schema, avscOptions()));
}

/** Whether a catalogue entry has the layout TradeWireReader / TradeWireWriter are compiled for. */
export function isTradeLayout(entry: CatalogueEntry): boolean {
  return entry.type.equals(tradeLayoutType());
}

/** `read` results: the kind of an accepted record (TradeKind enum index) ... */
export const TRADE_OK = 0;
export const TRADE_WATERMARK = 1;
export const TRADE_HANDOVER = 2;
/** ... a well-formed header with another schema id (decode with AvroCodec) ... */
export const TRADE_OTHER_SCHEMA = -1;
/** ... or malformed input (DLQ): fewer than 5 bytes, or the body ends inside a field. */
export const TRADE_TRUNCATED = -2;
/** First byte not 0. */
export const TRADE_BAD_MAGIC = -3;
/** Bytes after the last field. */
export const TRADE_TRAILING_BYTES = -4;
/** `kind` enum index not 0, 1 or 2. */
export const TRADE_BAD_ENUM = -5;
/** A long outside [-2^52, 2^53 - 2] (avsc: "potential precision loss"; see the header for below -2^52). */
export const TRADE_BAD_LONG = -6;
/** An int varint that is not a 32-bit value (avsc would accept it). */
export const TRADE_BAD_INT = -7;

export type TradeReadResult =
  | typeof TRADE_OK | typeof TRADE_WATERMARK | typeof TRADE_HANDOVER | typeof TRADE_OTHER_SCHEMA | typeof TRADE_TRUNCATED
  | typeof TRADE_BAD_MAGIC | typeof TRADE_TRAILING_BYTES | typeof TRADE_BAD_ENUM | typeof TRADE_BAD_LONG | typeof TRADE_BAD_INT;

/** Whether a `read` result is malformed input (as opposed to a kind or TRADE_OTHER_SCHEMA). */
export function isMalformed(result: number): boolean {
  return result < TRADE_OTHER_SCHEMA;
}

/**
 * The KlinestreamError code AvroCodec.decode raises for the same input: CODEC_TRUNCATED, CODEC_BAD_MAGIC,
 * CODEC_DECODE_FAILED, CODEC_UNKNOWN_SCHEMA (for TRADE_OTHER_SCHEMA, when that id is not loaded); undefined
 * for an accepted record.
 */
export function tradeReadErrorCode(result: number): ErrorCode | undefined {
  switch (result) {
    case TRADE_OTHER_SCHEMA:
      return 'CODEC_UNKNOWN_SCHEMA';
    case TRADE_TRUNCATED:
      return 'CODEC_TRUNCATED';
    case TRADE_BAD_MAGIC:
      return 'CODEC_BAD_MAGIC';
    case TRADE_TRAILING_BYTES:
    case TRADE_BAD_ENUM:
    case TRADE_BAD_LONG:
    case TRADE_BAD_INT:
      return 'CODEC_DECODE_FAILED';
    default:
      return undefined;
  }
}

/** Largest wire-format Trade record: header 5, enum 1, 2 ints 5 each, 5 longs 8 each, 2 doubles, boolean. */
export const TRADE_MAX_RECORD_BYTES = 5 + 1 + 5 + 8 * 3 + 8 * 2 + 8 * 2 + 1 + 5;

/**
 * Struct-of-arrays source of Trade records (the producer's OutgoingBuffer has this shape): row `i` of every
 * column is one record. `kind` is the TradeKind enum index (0 TRADE, 1 WATERMARK, 2 HANDOVER), `symbol` the
 * symbolIndex field, `isBuyerMaker` 0 or 1 (any non-zero byte is written as true).
 */
export interface TradeRecordColumns {
  readonly kind: Uint8Array;
  readonly symbol: Int32Array;
  readonly aggId: Float64Array;
  readonly firstTradeId: Float64Array;
  readonly lastTradeId: Float64Array;
  readonly price: Float64Array;
  readonly quantity: Float64Array;
  readonly tradeTime: Float64Array;
  readonly eventTime: Float64Array;
  readonly isBuyerMaker: Uint8Array;
  readonly targetPartition: Int32Array;
}

/** Plain `n`-row columns for TradeWireWriter (tests, benchmarks); `targetPartition` starts at the schema default, -1. */
export class TradeRows implements TradeRecordColumns {
  readonly kind: Uint8Array;
  readonly symbol: Int32Array;
  readonly aggId: Float64Array;
  readonly firstTradeId: Float64Array;
  readonly lastTradeId: Float64Array;
  readonly price: Float64Array;
  readonly quantity: Float64Array;
  readonly tradeTime: Float64Array;
  readonly eventTime: Float64Array;
  readonly isBuyerMaker: Uint8Array;
  readonly targetPartition: Int32Array;
  constructor(n: number) {
    this.kind = new Uint8Array(n);
    this.symbol = new Int32Array(n);
    this.aggId = new Float64Array(n);
    this.firstTradeId = new Float64Array(n);
    this.lastTradeId = new Float64Array(n);
    this.price = new Float64Array(n);
    this.quantity = new Float64Array(n);
    this.tradeTime = new Float64Array(n);
    this.eventTime = new Float64Array(n);
    this.isBuyerMaker = new Uint8Array(n);
    this.targetPartition = new Int32Array(n).fill(-1);
  }
}

const TRADE_LONG_FIELDS = ['aggId', 'firstTradeId', 'lastTradeId', 'tradeTime', 'eventTime'] as const;

/** One-row columns for the convenience writers (watermark, hand-over). */
class OneTrade implements TradeRecordColumns {
  readonly kind = new Uint8Array(1);
  readonly symbol = new Int32Array(1);
  readonly aggId = new Float64Array(1);
  readonly firstTradeId = new Float64Array(1);
  readonly lastTradeId = new Float64Array(1);
  readonly price = new Float64Array(1);
  readonly quantity = new Float64Array(1);
  readonly tradeTime = new Float64Array(1);
  readonly eventTime = new Float64Array(1);
  readonly isBuyerMaker = new Uint8Array(1);
  readonly targetPartition = new Int32Array(1);
}

export class TradeWireWriter {
  readonly schemaId: number;
  private readonly one = new OneTrade();

  /** `catalogueEntry`, when given, is checked to be the compiled layout (SCHEMA_CATALOGUE otherwise). */
  constructor(schemaId: number, catalogueEntry?: CatalogueEntry) {
    checkWireSchemaId(schemaId, 'TradeWireWriter');
    if (catalogueEntry !== undefined) assertCompiledLayout(catalogueEntry, tradeLayoutType(), 'TradeWireWriter');
    this.schemaId = schemaId;
  }

  /**
   * Writes row `i` of `cols` as one wire-format record at `pos` of `target`. Returns the end offset, or, when
   * the record does not fit, minus the number of bytes missing (nothing written; grow and retry), exactly
   * like AvroCodec.encodeInto. A value outside the schema (kind > 2, a long that is not an integer in
   * [-2^52, 2^53 - 2]) throws CODEC_ENCODE_FAILED naming the field; bytes from `pos` on may have been written.
   */
  writeFrom(cols: TradeRecordColumns, i: number, target: Uint8Array, pos: number): number {
    if (!(i >= 0 && i < cols.kind.length && pos >= 0)) throw new RangeError(`TradeWireWriter.writeFrom: row ${i} / position ${pos} out of range`);
    if (!(target.length - pos >= TRADE_MAX_RECORD_BYTES)) {
      const end = pos + this.recordBytes(cols, i);
      if (end > target.length) return target.length - end;
    }
    const kind = cols.kind[i]!;
    if (kind > 2) throw this.invalid(cols, i, 'kind');
    pos = writeWireHeader(target, pos, this.schemaId);
    target[pos++] = kind << 1;
    pos = writeIntAt(cols.symbol, i, target, pos);
    if ((pos = writeLongAt(cols.aggId, i, target, pos)) < 0) throw this.invalid(cols, i, 'aggId');
    if ((pos = writeLongAt(cols.firstTradeId, i, target, pos)) < 0) throw this.invalid(cols, i, 'firstTradeId');
    if ((pos = writeLongAt(cols.lastTradeId, i, target, pos)) < 0) throw this.invalid(cols, i, 'lastTradeId');
    pos = writeDoubleAt(cols.price, i, target, pos);
    pos = writeDoubleAt(cols.quantity, i, target, pos);
    if ((pos = writeLongAt(cols.tradeTime, i, target, pos)) < 0) throw this.invalid(cols, i, 'tradeTime');
    if ((pos = writeLongAt(cols.eventTime, i, target, pos)) < 0) throw this.invalid(cols, i, 'eventTime');
    target[pos++] = cols.isBuyerMaker[i] !== 0 ? 1 : 0;
    return writeIntAt(cols.targetPartition, i, target, pos);
  }

  /** Exact size in bytes of row `i` as a wire-format record (throws CODEC_ENCODE_FAILED like writeFrom). */
  recordBytes(cols: TradeRecordColumns, i: number): number {
    if (cols.kind[i]! > 2) throw this.invalid(cols, i, 'kind');
    let n = HEADER_LENGTH + 1 + intBytesAt(cols.symbol, i) + 16 + 1 + intBytesAt(cols.targetPartition, i);
    for (const f of TRADE_LONG_FIELDS) {
      const b = longBytesAt(cols[f], i);
      if (b < 0) throw this.invalid(cols, i, f);
      n += b;
    }
    return n;
  }

  /**
   * A WATERMARK record as docs/codec.md describes it (symbolIndex and ids -1, price and quantity 0). Takes
   * doubles as arguments: for the few control records, not for per-trade use.
   */
  writeWatermark(watermarkMs: number, eventTimeMs: number, target: Uint8Array, pos: number): number {
    this.fillOne(TRADE_WATERMARK, -1, -1, watermarkMs, eventTimeMs, -1);
    return this.writeFrom(this.one, 0, target, pos);
  }

  /**
   * A HANDOVER record: `symbolIndex` moves to `targetPartition`; aggId and tradeTime (and eventTime) are
   * those of its last trade written to this partition (-1 when none), as OutgoingBuffer.pushHandover has it.
   */
  writeHandover(symbolIndex: number, targetPartition: number, lastAggId: number, lastTradeTime: number, target: Uint8Array, pos: number): number {
    this.fillOne(TRADE_HANDOVER, symbolIndex, lastAggId, lastTradeTime, lastTradeTime, targetPartition);
    return this.writeFrom(this.one, 0, target, pos);
  }

  /**
   * An EncodeArena encoder for the rows of `cols`: `arena.encode(writer.encoderFor(cols), i)`. Build it once
   * per source (it is one small object), not per record.
   */
  encoderFor(cols: TradeRecordColumns): ArenaEncoder<number> {
    return { encodeInto: (i: number, target: Buffer, pos: number) => this.writeFrom(cols, i, target, pos) };
  }

  private fillOne(kind: number, symbol: number, aggId: number, tradeTime: number, eventTime: number, targetPartition: number): void {
    const o = this.one;
    o.kind[0] = kind;
    o.symbol[0] = symbol;
    o.aggId[0] = aggId;
    o.firstTradeId[0] = -1;
    o.lastTradeId[0] = -1;
    o.price[0] = 0;
    o.quantity[0] = 0;
    o.tradeTime[0] = tradeTime;
    o.eventTime[0] = eventTime;
    o.isBuyerMaker[0] = 0;
    o.targetPartition[0] = targetPartition;
  }

  private invalid(cols: TradeRecordColumns, i: number, field: string): KlinestreamError {
    const value = (cols as unknown as Record<string, ArrayLike<number>>)[field]![i];
    const why = field === 'kind' ? 'not a TradeKind index (0 TRADE, 1 WATERMARK, 2 HANDOVER)' : `not an integer in [${LONG_MIN}, ${LONG_MAX}]`;
    return new KlinestreamError('CODEC_ENCODE_FAILED', `cannot encode Trade (invalid field(s): ${field}): row ${i} has ${field} = ${value}, ${why}`, {
      schema: 'Trade',
      schemaId: this.schemaId,
      fields: [field],
      row: i,
    });
  }
}

/**
 * Reads wire-format Trade records of one writer schema id. After an accepted record:
 *   - TRADE: appended to the columns at `cols.length` (which grows by one); `eventTime` and
 *     `targetPartition` (not in TradeColumns) are on the reader;
 *   - WATERMARK: nothing appended; `watermark` (= its tradeTime) and every field below are on the reader;
 *   - HANDOVER: nothing appended; `symbolIndex`, `aggId`, `tradeTime`, `targetPartition` (and the rest).
 * A rejected record leaves the columns' length unchanged (the row past the end may hold scraps) and sets
 * `errorOffset`; `lastSchemaId` is the id of the last record with a readable header.
 */
export class TradeWireReader {
  readonly schemaId: number;
  /** Kind of the last accepted record (0 TRADE, 1 WATERMARK, 2 HANDOVER). */
  kind = -1;
  symbolIndex = -1;
  aggId = -1;
  firstTradeId = -1;
  lastTradeId = -1;
  price = 0;
  quantity = 0;
  tradeTime = -1;
  eventTime = -1;
  /** 0 or 1. */
  isBuyerMaker = 0;
  targetPartition = -1;
  /** tradeTime of the last WATERMARK read. */
  watermark = -1;
  /** Schema id in the header of the last record that had one (also for TRADE_OTHER_SCHEMA). */
  lastSchemaId = -1;
  /** Offset in the record of the field (or header) that made the last record malformed. */
  errorOffset = -1;
  /** Length of the last record read (for messages). */
  private lastLength = 0;

  /** `catalogueEntry`, when given, is checked to be the compiled layout (SCHEMA_CATALOGUE otherwise). */
  constructor(schemaId: number, catalogueEntry?: CatalogueEntry) {
    checkWireSchemaId(schemaId, 'TradeWireReader');
    if (catalogueEntry !== undefined) assertCompiledLayout(catalogueEntry, tradeLayoutType(), 'TradeWireReader');
    this.schemaId = schemaId;
  }

  /** Reads one whole record (e.g. a Kafka message value). */
  read(value: Uint8Array, cols: TradeColumns): number {
    return this.readRange(value, 0, value.length, cols);
  }

  /**
   * Reads the record in `buf[start, end)`. Returns TRADE_OK / TRADE_WATERMARK / TRADE_HANDOVER,
   * TRADE_OTHER_SCHEMA, or a negative malformed code. Never throws on the bytes; throws RangeError for a
   * range outside `buf` and when a TRADE record arrives while `cols` is full (check `cols.full` first).
   */
  readRange(buf: Uint8Array, start: number, end: number, cols: TradeColumns): number {
    if (!(start >= 0 && start <= end && end <= buf.length && (start | 0) === start && (end | 0) === end)) {
      throw new RangeError(`TradeWireReader: range [${start}, ${end}) outside the buffer of ${buf.length} bytes`);
    }
    this.lastLength = end - start;
    if (end - start < HEADER_LENGTH) return this.fail(TRADE_TRUNCATED, 0);
    if (buf[start] !== MAGIC_BYTE) return this.fail(TRADE_BAD_MAGIC, 0);
    const id = (buf[start + 1]! << 24) | (buf[start + 2]! << 16) | (buf[start + 3]! << 8) | buf[start + 4]!;
    this.lastSchemaId = id;
    if (id !== this.schemaId) return TRADE_OTHER_SCHEMA;

    // Each field: read as avsc does, reject what avsc's reader throws on (plus the two documented cases),
    // then stop at a field that ran past the end (avsc would read zeros from there on: all valid, so its
    // verdict is "truncated" too).
    let at = start + HEADER_LENGTH;
    let pos = readVarint(buf, at, end);
    const kind = VAL[0]!;
    if (kind !== 0 && kind !== 1 && kind !== 2) return this.fail(TRADE_BAD_ENUM, at - start);
    if (pos > end) return this.fail(TRADE_TRUNCATED, at - start);

    pos = readVarint(buf, (at = pos), end);
    const symbolIndex = VAL[0]!;
    if ((symbolIndex | 0) !== symbolIndex) return this.fail(TRADE_BAD_INT, at - start);
    if (pos > end) return this.fail(TRADE_TRUNCATED, at - start);

    pos = readVarint(buf, (at = pos), end);
    if (!longOk()) return this.fail(TRADE_BAD_LONG, at - start);
    if (pos > end) return this.fail(TRADE_TRUNCATED, at - start);
    const aggId = VAL[0]!;

    pos = readVarint(buf, (at = pos), end);
    if (!longOk()) return this.fail(TRADE_BAD_LONG, at - start);
    if (pos > end) return this.fail(TRADE_TRUNCATED, at - start);
    const firstTradeId = VAL[0]!;

    pos = readVarint(buf, (at = pos), end);
    if (!longOk()) return this.fail(TRADE_BAD_LONG, at - start);
    if (pos > end) return this.fail(TRADE_TRUNCATED, at - start);
    const lastTradeId = VAL[0]!;

    if (pos + 16 > end) return this.fail(TRADE_TRUNCATED, pos + 8 > end ? pos - start : pos + 8 - start);
    readDoubleBits(buf, pos);
    const price = F64[0]!;
    readDoubleBits(buf, pos + 8);
    const quantity = F64[0]!;
    pos += 16;

    pos = readVarint(buf, (at = pos), end);
    if (!longOk()) return this.fail(TRADE_BAD_LONG, at - start);
    if (pos > end) return this.fail(TRADE_TRUNCATED, at - start);
    const tradeTime = VAL[0]!;

    pos = readVarint(buf, (at = pos), end);
    if (!longOk()) return this.fail(TRADE_BAD_LONG, at - start);
    if (pos > end) return this.fail(TRADE_TRUNCATED, at - start);
    const eventTime = VAL[0]!;

    if (pos >= end) return this.fail(TRADE_TRUNCATED, pos - start);
    const isBuyerMaker = buf[pos] !== 0 ? 1 : 0;
    pos++;

    pos = readVarint(buf, (at = pos), end);
    const targetPartition = VAL[0]!;
    if ((targetPartition | 0) !== targetPartition) return this.fail(TRADE_BAD_INT, at - start);
    if (pos > end) return this.fail(TRADE_TRUNCATED, at - start);
    if (pos !== end) return this.fail(TRADE_TRAILING_BYTES, pos - start);

    this.eventTime = eventTime;
    this.targetPartition = targetPartition | 0;
    if (kind === 0) {
      const i = cols.length;
      if (i >= cols.capacity) throw new RangeError(`TradeColumns is full (${cols.capacity}); check cols.full before reading a record`);
      cols.symbol[i] = symbolIndex;
      cols.aggId[i] = aggId;
      cols.firstTradeId[i] = firstTradeId;
      cols.lastTradeId[i] = lastTradeId;
      cols.price[i] = price;
      cols.quantity[i] = quantity;
      cols.tradeTime[i] = tradeTime;
      cols.isBuyerMaker[i] = isBuyerMaker;
      cols.length = i + 1;
      this.kind = TRADE_OK;
      return TRADE_OK;
    }
    this.symbolIndex = symbolIndex | 0;
    this.aggId = aggId;
    this.firstTradeId = firstTradeId;
    this.lastTradeId = lastTradeId;
    this.price = price;
    this.quantity = quantity;
    this.tradeTime = tradeTime;
    this.isBuyerMaker = isBuyerMaker;
    if (kind === 1) {
      this.watermark = tradeTime;
      this.kind = TRADE_WATERMARK;
      return TRADE_WATERMARK;
    }
    this.kind = TRADE_HANDOVER;
    return TRADE_HANDOVER;
  }

  /** A message for a `read` result (for logs and the DLQ `klinestream.error` header); allocates, off the hot path. */
  describe(result: number): string {
    const where = `schema id ${this.lastSchemaId}, ${this.lastLength} bytes`;
    switch (result) {
      case TRADE_OK:
        return 'TRADE';
      case TRADE_WATERMARK:
        return 'WATERMARK';
      case TRADE_HANDOVER:
        return 'HANDOVER';
      case TRADE_OTHER_SCHEMA:
        return `schema id ${this.lastSchemaId} is not the compiled Trade schema id ${this.schemaId}: decode with AvroCodec`;
      case TRADE_TRUNCATED:
        return this.lastLength < HEADER_LENGTH
          ? `record of ${this.lastLength} byte(s) is shorter than the ${HEADER_LENGTH}-byte Confluent wire header (magic byte + schema id)`
          : `Avro body for Trade is cut short at byte ${this.errorOffset} (${where})`;
      case TRADE_BAD_MAGIC:
        return 'record does not start with the Confluent magic byte 0; it was not written with a schema registry serializer';
      case TRADE_TRAILING_BYTES:
        return `${this.lastLength - this.errorOffset} trailing byte(s) after the Trade record (${where}): not a record of this schema`;
      case TRADE_BAD_ENUM:
        return `invalid Avro body for Trade (${where}): TradeKind enum index out of range at byte ${this.errorOffset}`;
      case TRADE_BAD_LONG:
        return `invalid Avro body for Trade (${where}): long at byte ${this.errorOffset} outside [${LONG_MIN}, ${LONG_MAX}] (potential precision loss)`;
      case TRADE_BAD_INT:
        return `invalid Avro body for Trade (${where}): int at byte ${this.errorOffset} is not a 32-bit value`;
      default:
        return `unknown TradeWireReader result ${result}`;
    }
  }

  private fail(code: number, offset: number): number {
    this.errorOffset = offset;
    return code;
  }
}
