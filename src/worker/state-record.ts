/**
 * Values of the compacted `kline-state` topic (key: symbol name): one symbol's aggregator state, stamped with
 * what it covers, so a new owner of a partition restores in seconds instead of re-reading weeks of trades.
 *
 *   offset  size  field
 *   0       2     magic "KS"
 *   2       1     format version (1)
 *   3       1     signature length L
 *   4       L     interval signature (aggregator.stateSignature, ASCII): state of another interval set is not restored
 *   4+L     4     symbol index (int32 BE)
 *   8+L     4     placement epoch (int32 BE): the symbol's placement this state belongs to
 *   12+L    4     input partition (int32 BE): the trades partition it was built from
 *   16+L    8     input offset (double BE): every trade of that partition below this offset is folded in
 *   24+L    4     N = number of state values (int32 BE)
 *   28+L    8N    the aggregator's symbol state (doubles, little-endian: copied as one block)
 *
 * A null value (tombstone) means the symbol left the partition.
 */
import { KlinestreamError } from '../errors';

const MAGIC_0 = 0x4b; // K
const MAGIC_1 = 0x53; // S
const VERSION = 1;

export interface StateRecord {
  signature: string;
  symbolIndex: number;
  placementEpoch: number;
  inputPartition: number;
  inputOffset: number;
  /** A view of the state values (copy it to keep it beyond the buffer's life). */
  state: Float64Array;
}

export function stateRecordLength(signature: string, values: number): number {
  return 28 + signature.length + 8 * values;
}

/** Encodes into a new buffer (one per symbol per flush, not per trade). */
export function encodeStateRecord(
  signature: string, symbolIndex: number, placementEpoch: number, inputPartition: number, inputOffset: number,
  state: Float64Array, offset: number, length: number,
): Buffer {
  const L = signature.length;
  const out = Buffer.allocUnsafe(stateRecordLength(signature, length));
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = VERSION;
  out[3] = L;
  out.write(signature, 4, 'latin1');
  out.writeInt32BE(symbolIndex, 4 + L);
  out.writeInt32BE(placementEpoch, 8 + L);
  out.writeInt32BE(inputPartition, 12 + L);
  out.writeDoubleBE(inputOffset, 16 + L);
  out.writeInt32BE(length, 24 + L);
  const bytes = new Uint8Array(state.buffer, state.byteOffset + offset * 8, length * 8);
  out.set(bytes, 28 + L);
  return out;
}

export function decodeStateRecord(value: Buffer): StateRecord {
  if (value.length < 28 || value[0] !== MAGIC_0 || value[1] !== MAGIC_1) {
    throw new KlinestreamError('STATE_UNREADABLE', `not a kline-state record (${value.length} bytes, no "KS" header)`, { bytes: value.length });
  }
  if (value[2] !== VERSION) throw new KlinestreamError('STATE_UNREADABLE', `kline-state record format ${value[2]} is not supported (this build reads ${VERSION})`, { version: value[2] });
  const L = value[3]!;
  if (value.length < 28 + L) throw new KlinestreamError('STATE_UNREADABLE', 'kline-state record is cut short in its header', { bytes: value.length });
  const signature = value.toString('latin1', 4, 4 + L);
  const n = value.readInt32BE(24 + L);
  if (n < 0 || value.length !== 28 + L + 8 * n) {
    throw new KlinestreamError('STATE_UNREADABLE', `kline-state record holds ${value.length - 28 - L} state bytes, expected ${8 * n}`, { bytes: value.length });
  }
  // Copy into an aligned array: the record's bytes may start anywhere in the fetch buffer.
  const state = new Float64Array(n);
  new Uint8Array(state.buffer).set(value.subarray(28 + L, 28 + L + 8 * n));
  return {
    signature,
    symbolIndex: value.readInt32BE(4 + L),
    placementEpoch: value.readInt32BE(8 + L),
    inputPartition: value.readInt32BE(12 + L),
    inputOffset: value.readDoubleBE(16 + L),
    state,
  };
}

export interface StateStamp {
  symbolIndex: number;
  placementEpoch: number;
  inputPartition: number;
  inputOffset: number;
}

/** The stamp of a state record without copying its state; undefined when the header is not ours. */
export function readStateStamp(value: Buffer): StateStamp | undefined {
  if (value.length < 28 || value[0] !== MAGIC_0 || value[1] !== MAGIC_1 || value[2] !== VERSION) return undefined;
  const L = value[3]!;
  if (value.length < 28 + L) return undefined;
  return {
    symbolIndex: value.readInt32BE(4 + L),
    placementEpoch: value.readInt32BE(8 + L),
    inputPartition: value.readInt32BE(12 + L),
    inputOffset: value.readDoubleBE(16 + L),
  };
}
