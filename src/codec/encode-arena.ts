/**
 * Batch arena for encoded records.
 *
 * kafkajs keeps every message's value Buffer until the batch is sent, so a single scratch buffer cannot be
 * shared between the records of one `send`. The arena encodes records back to back into one buffer and hands
 * out `subarray` views (no copy, no per-record allocation of bytes). When a record does not fit, a larger
 * chunk replaces the current one; views already handed out keep the old chunk alive and stay valid. After
 * the batch is acknowledged (or abandoned), `reset()` rewinds to the start of the current chunk, which after
 * warm-up is big enough for a whole batch: steady state allocates no record bytes at all.
 *
 * Views are valid until `reset()`; using one after that reads bytes of a later batch.
 */
import { KlinestreamError } from '../errors';
import { grownSize } from './avro-codec';

/** What the arena needs from a codec; AvroCodec satisfies it. */
export interface ArenaEncoder<T> {
  encodeInto(value: T, target: Buffer, pos: number): number;
}

const DEFAULT_ARENA_BYTES = 64 * 1024;

export class EncodeArena {
  private chunk: Buffer;
  private pos = 0;
  private recordsSinceReset = 0;
  private chunksSinceReset = 1;

  constructor(initialBytes: number = DEFAULT_ARENA_BYTES) {
    if (!Number.isInteger(initialBytes) || initialBytes < 1) {
      throw new KlinestreamError('CODEC_ENCODE_FAILED', `arena size must be a positive whole number of bytes, got ${initialBytes}`);
    }
    // allocUnsafeSlow: the arena lives long, so it should own its memory rather than pin a slice of
    // Node's shared 8 KiB pool (which small allocUnsafe calls come from).
    this.chunk = Buffer.allocUnsafeSlow(initialBytes);
  }

  /** Encodes one record after the previous ones and returns a view of exactly its bytes, valid until `reset()`. */
  encode<T>(codec: ArenaEncoder<T>, value: T): Buffer {
    const start = this.pos;
    let end = codec.encodeInto(value, this.chunk, start);
    let at = start;
    if (end < 0) {
      // Grow into a fresh chunk sized for at least this record; the old chunk stays with its views.
      const recordBytes = this.chunk.length - end - start;
      this.chunk = Buffer.allocUnsafeSlow(grownSize(this.chunk.length, recordBytes));
      this.chunksSinceReset++;
      at = 0;
      end = codec.encodeInto(value, this.chunk, 0);
      if (end < 0) throw new KlinestreamError('CODEC_ENCODE_FAILED', `record still does not fit after growing the arena to ${this.chunk.length} bytes`);
    }
    this.pos = end;
    this.recordsSinceReset++;
    return this.chunk.subarray(at, end);
  }

  /** Rewinds for the next batch; every view handed out since the last reset becomes invalid. */
  reset(): void {
    this.pos = 0;
    this.recordsSinceReset = 0;
    this.chunksSinceReset = 1;
  }

  /** Bytes used in the current chunk. */
  get bytesUsed(): number {
    return this.pos;
  }

  /** Size of the current chunk. */
  get capacity(): number {
    return this.chunk.length;
  }

  /** Records encoded since the last reset. */
  get records(): number {
    return this.recordsSinceReset;
  }

  /** Chunks used since the last reset: 1 unless the batch outgrew the arena (then it grew). */
  get chunks(): number {
    return this.chunksSinceReset;
  }
}
