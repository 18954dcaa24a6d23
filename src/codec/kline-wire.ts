/**
 * Hand-compiled Avro writer for exactly the registered Kline schema (schemas/kline.avsc), in the Confluent
 * wire format, straight from a KlineBatch row: nothing is allocated per record and no string is UTF-8
 * encoded per record. Every symbol name is encoded once, when it becomes known (`setSymbolName`, or lazily
 * through the `nameOf` option), into a pool of pre-encoded Avro strings (length varint + UTF-8 bytes, made by
 * avsc itself, so the bytes are avsc's for any string); the 14 interval names are encoded once per process.
 *
 * Body layout, in schema field order: symbol, interval (string), openTime, closeTime (long), open, high, low,
 * close, volume, quoteVolume (double), tradeCount (long), takerBuyVolume, takerBuyQuoteVolume (double),
 * firstTradeId, lastTradeId (long), isFinal (boolean), version (long). Longs must be integers in
 * [-2^52, 2^53 - 2] (see trade-wire.ts); output is byte-identical to avsc for every record both accept.
 */
import * as avro from 'avsc';
import { INTERVAL_NAMES } from '../aggregation/intervals';
import { KlinestreamError } from '../errors';
import type { ArenaEncoder } from './encode-arena';
import { avscOptions, type CatalogueEntry } from './schema-catalogue';
import { HEADER_LENGTH } from './wire-format';
import {
  LONG_MAX, LONG_MIN, assertCompiledLayout, checkWireSchemaId, longBytesAt, writeDoubleAt, writeLongAt, writeWireHeader,
} from './trade-wire';

/** The Kline layout this file is compiled for (canonical form of schemas/kline.avsc). */
export const KLINE_LAYOUT_SCHEMA = {
  type: 'record',
  name: 'Kline',
  namespace: 'io.klinestream',
  fields: [
    { name: 'symbol', type: 'string' },
    { name: 'interval', type: 'string' },
    { name: 'openTime', type: 'long' },
    { name: 'closeTime', type: 'long' },
    { name: 'open', type: 'double' },
    { name: 'high', type: 'double' },
    { name: 'low', type: 'double' },
    { name: 'close', type: 'double' },
    { name: 'volume', type: 'double' },
    { name: 'quoteVolume', type: 'double' },
    { name: 'tradeCount', type: 'long' },
    { name: 'takerBuyVolume', type: 'double' },
    { name: 'takerBuyQuoteVolume', type: 'double' },
    { name: 'firstTradeId', type: 'long' },
    { name: 'lastTradeId', type: 'long' },
    { name: 'isFinal', type: 'boolean' },
    { name: 'version', type: 'long' },
  ],
} as const;

let klineLayout: avro.Type | undefined;

export function klineLayoutType(): avro.Type {
  return (klineLayout ??= avro.Type.forSchema(KLINE_LAYOUT_SCHEMA as unknown as avro.Schema, avscOptions()));
}

/** Whether a catalogue entry has the layout KlineWireWriter is compiled for. */
export function isKlineLayout(entry: CatalogueEntry): boolean {
  return entry.type.equals(klineLayoutType());
}

/**
 * Struct-of-arrays source of Kline records; KlineBatch has this shape. `intervalId` indexes INTERVAL_NAMES,
 * `isFinal` is 0 or 1 (any non-zero byte is written as true).
 */
export interface KlineRecordColumns {
  readonly symbolIndex: Int32Array;
  readonly intervalId: Uint8Array;
  readonly openTime: Float64Array;
  readonly closeTime: Float64Array;
  readonly open: Float64Array;
  readonly high: Float64Array;
  readonly low: Float64Array;
  readonly close: Float64Array;
  readonly volume: Float64Array;
  readonly quoteVolume: Float64Array;
  readonly tradeCount: Float64Array;
  readonly takerBuyVolume: Float64Array;
  readonly takerBuyQuoteVolume: Float64Array;
  readonly firstTradeId: Float64Array;
  readonly lastTradeId: Float64Array;
  readonly isFinal: Uint8Array;
  readonly version: Float64Array;
}

export interface KlineWireWriterOptions {
  /** Checked to be the compiled layout (SCHEMA_CATALOGUE otherwise). */
  catalogueEntry?: CatalogueEntry;
  /**
   * Asked once for a symbol index whose name was not set (then cached); without it, or when it answers
   * undefined, writing that symbol's kline throws CODEC_ENCODE_FAILED.
   */
  nameOf?: (symbolIndex: number) => string | undefined;
}

const STRING = avro.Type.forSchema('string');

/** Header, 6 longs (at most 8 bytes each in range), 8 doubles, boolean; plus the two strings. */
export const KLINE_MAX_FIXED_BYTES = HEADER_LENGTH + 6 * 8 + 8 * 8 + 1;

const KLINE_LONG_FIELDS = ['openTime', 'closeTime', 'tradeCount', 'firstTradeId', 'lastTradeId', 'version'] as const;

/** The 14 interval names as Avro strings, back to back. */
const INTERVAL_BYTES = Buffer.concat(INTERVAL_NAMES.map((n) => STRING.toBuffer(n)));
const INTERVAL_START = new Int32Array(INTERVAL_NAMES.length);
const INTERVAL_LEN = new Int32Array(INTERVAL_NAMES.length);
{
  let at = 0;
  INTERVAL_NAMES.forEach((n, k) => {
    INTERVAL_START[k] = at;
    at += INTERVAL_LEN[k] = STRING.toBuffer(n).length;
  });
}

export class KlineWireWriter {
  readonly schemaId: number;
  private readonly nameOf: ((symbolIndex: number) => string | undefined) | undefined;
  /** Pre-encoded symbol strings back to back; `symStart`/`symLen` per symbol index (length 0 = not set). */
  private pool: Buffer = Buffer.allocUnsafeSlow(4096);
  private poolUsed = 0;
  private symStart = new Int32Array(256);
  private symLen = new Int32Array(256);

  constructor(schemaId: number, options: KlineWireWriterOptions = {}) {
    checkWireSchemaId(schemaId, 'KlineWireWriter');
    if (options.catalogueEntry !== undefined) assertCompiledLayout(options.catalogueEntry, klineLayoutType(), 'KlineWireWriter');
    this.schemaId = schemaId;
    this.nameOf = options.nameOf;
  }

  /** Caches the encoded name of symbol `index` (once per symbol; a changed name replaces the old one). */
  setSymbolName(index: number, name: string): void {
    if (!Number.isInteger(index) || index < 0 || index > 0x7fffffff) throw new RangeError(`symbol index must be a non-negative 32-bit integer, got ${index}`);
    if (typeof name !== 'string') throw new TypeError(`symbol name of index ${index} must be a string`);
    const encoded = STRING.toBuffer(name);
    if (index >= this.symLen.length) {
      const size = Math.max(index + 1, this.symLen.length * 2);
      const start = new Int32Array(size);
      start.set(this.symStart);
      const len = new Int32Array(size);
      len.set(this.symLen);
      this.symStart = start;
      this.symLen = len;
    }
    const oldLen = this.symLen[index]!;
    if (oldLen === encoded.length && this.pool.compare(encoded, 0, oldLen, this.symStart[index]!, this.symStart[index]! + oldLen) === 0) return;
    if (this.poolUsed + encoded.length > this.pool.length) {
      let size = this.pool.length * 2;
      while (size < this.poolUsed + encoded.length) size *= 2;
      const grown = Buffer.allocUnsafeSlow(size);
      this.pool.copy(grown, 0, 0, this.poolUsed);
      this.pool = grown;
    }
    encoded.copy(this.pool, this.poolUsed);
    this.symStart[index] = this.poolUsed;
    this.symLen[index] = encoded.length;
    this.poolUsed += encoded.length;
  }

  hasSymbolName(index: number): boolean {
    return index >= 0 && index < this.symLen.length && this.symLen[index]! > 0;
  }

  /**
   * Writes row `i` of `batch` as one wire-format Kline record at `pos` of `target`. Returns the end offset,
   * or minus the number of bytes missing (nothing written), like AvroCodec.encodeInto. Throws
   * CODEC_ENCODE_FAILED for a symbol without a name, an interval id beyond the 14 intervals, or a long that
   * is not an integer in [-2^52, 2^53 - 2]; bytes from `pos` on may have been written then.
   */
  write(batch: KlineRecordColumns, i: number, target: Uint8Array, pos: number): number {
    if (!(i >= 0 && i < batch.symbolIndex.length && pos >= 0)) throw new RangeError(`KlineWireWriter.write: row ${i} / position ${pos} out of range`);
    const s = batch.symbolIndex[i]!;
    let sl = s >= 0 && s < this.symLen.length ? this.symLen[s]! : 0;
    if (sl === 0) sl = this.missingSymbol(batch, i, s);
    const iv = batch.intervalId[i]!;
    if (iv >= INTERVAL_NAMES.length) throw this.invalid(batch, i, 'interval', `interval id ${iv} is not one of the ${INTERVAL_NAMES.length} intervals`);
    const il = INTERVAL_LEN[iv]!;
    if (!(target.length - pos >= KLINE_MAX_FIXED_BYTES + sl + il)) {
      const end = pos + this.recordBytes(batch, i);
      if (end > target.length) return target.length - end;
    }
    pos = writeWireHeader(target, pos, this.schemaId);
    const pool = this.pool;
    for (let k = this.symStart[s]!, e = k + sl; k < e; k++) target[pos++] = pool[k]!;
    for (let k = INTERVAL_START[iv]!, e = k + il; k < e; k++) target[pos++] = INTERVAL_BYTES[k]!;
    if ((pos = writeLongAt(batch.openTime, i, target, pos)) < 0) throw this.invalidLong(batch, i, 'openTime');
    if ((pos = writeLongAt(batch.closeTime, i, target, pos)) < 0) throw this.invalidLong(batch, i, 'closeTime');
    pos = writeDoubleAt(batch.open, i, target, pos);
    pos = writeDoubleAt(batch.high, i, target, pos);
    pos = writeDoubleAt(batch.low, i, target, pos);
    pos = writeDoubleAt(batch.close, i, target, pos);
    pos = writeDoubleAt(batch.volume, i, target, pos);
    pos = writeDoubleAt(batch.quoteVolume, i, target, pos);
    if ((pos = writeLongAt(batch.tradeCount, i, target, pos)) < 0) throw this.invalidLong(batch, i, 'tradeCount');
    pos = writeDoubleAt(batch.takerBuyVolume, i, target, pos);
    pos = writeDoubleAt(batch.takerBuyQuoteVolume, i, target, pos);
    if ((pos = writeLongAt(batch.firstTradeId, i, target, pos)) < 0) throw this.invalidLong(batch, i, 'firstTradeId');
    if ((pos = writeLongAt(batch.lastTradeId, i, target, pos)) < 0) throw this.invalidLong(batch, i, 'lastTradeId');
    target[pos++] = batch.isFinal[i] !== 0 ? 1 : 0;
    if ((pos = writeLongAt(batch.version, i, target, pos)) < 0) throw this.invalidLong(batch, i, 'version');
    return pos;
  }

  /** Exact size in bytes of row `i` as a wire-format record (throws like `write`). */
  recordBytes(batch: KlineRecordColumns, i: number): number {
    const s = batch.symbolIndex[i]!;
    let sl = s >= 0 && s < this.symLen.length ? this.symLen[s]! : 0;
    if (sl === 0) sl = this.missingSymbol(batch, i, s);
    const iv = batch.intervalId[i]!;
    if (iv >= INTERVAL_NAMES.length) throw this.invalid(batch, i, 'interval', `interval id ${iv} is not one of the ${INTERVAL_NAMES.length} intervals`);
    let n = HEADER_LENGTH + sl + INTERVAL_LEN[iv]! + 8 * 8 + 1;
    for (const f of KLINE_LONG_FIELDS) {
      const b = longBytesAt(batch[f], i);
      if (b < 0) throw this.invalidLong(batch, i, f);
      n += b;
    }
    return n;
  }

  /** An EncodeArena encoder for the rows of `batch`: `arena.encode(writer.encoderFor(batch), i)`; build once. */
  encoderFor(batch: KlineRecordColumns): ArenaEncoder<number> {
    return { encodeInto: (i: number, target: Buffer, pos: number) => this.write(batch, i, target, pos) };
  }

  /** Cold path: fills the cache through `nameOf`, or throws. Returns the encoded length. */
  private missingSymbol(batch: KlineRecordColumns, i: number, s: number): number {
    const name = s >= 0 ? this.nameOf?.(s) : undefined;
    if (name === undefined) throw this.invalid(batch, i, 'symbol', `symbol index ${s} has no name (call setSymbolName first)`);
    this.setSymbolName(s, name);
    return this.symLen[s]!;
  }

  private invalidLong(batch: KlineRecordColumns, i: number, field: (typeof KLINE_LONG_FIELDS)[number]): KlinestreamError {
    return this.invalid(batch, i, field, `${field} = ${batch[field][i]} is not an integer in [${LONG_MIN}, ${LONG_MAX}]`);
  }

  private invalid(batch: KlineRecordColumns, i: number, field: string, why: string): KlinestreamError {
    return new KlinestreamError('CODEC_ENCODE_FAILED', `cannot encode Kline (invalid field(s): ${field}): row ${i}: ${why}`, {
      schema: 'Kline',
      schemaId: this.schemaId,
      fields: [field],
      row: i,
      symbolIndex: batch.symbolIndex[i],
    });
  }
}
