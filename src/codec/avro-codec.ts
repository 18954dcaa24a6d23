/**
 * Avro codec for one record type in the Confluent wire format.
 *
 * Decoding resolves the writer schema (named by the id in the record header) against the reader schema the
 * code expects, so records written under an older, backward-compatible schema still decode. Each writer id
 * is compiled once into a "plan" (no resolver when writer and reader are the same schema, else an avsc
 * resolver) and cached; the id of the previous record is checked first so a steady stream of one id does no
 * Map lookup. `decode` is synchronous and only knows ids that were loaded before (`prepare`, `decodeAsync`,
 * `addWriterSchema`, `useSchemaId`); that keeps the per-record path free of promises.
 *
 * Encoding writes header and body into a caller's buffer (`encodeInto`), a reused scratch buffer
 * (`encodeToScratch`), or a fresh exact-size buffer (`encode`); see encode-arena.ts for batches.
 */
import * as avro from 'avsc';
import { KlinestreamError } from '../errors';
import { avscOptions, type CatalogueEntry } from './schema-catalogue';
import type { SchemaRegistryPort } from './schema-registry';
import { HEADER_LENGTH, MAGIC_BYTE, badMagic, truncatedHeader, writeHeader } from './wire-format';

export interface AvroCodecOptions {
  /** Where `prepare` fetches writer schemas of ids it has not seen; without it only local ids decode. */
  registry?: SchemaRegistryPort;
  /**
   * Id stamped on encoded records: the id under which the reader schema is registered for the topic.
   * It is also known as a writer schema right away (no fetch for our own records).
   */
  schemaId?: number;
  /** First size of the scratch buffer; it doubles when a record does not fit. */
  initialScratchBytes?: number;
  /**
   * After the registry said an id does not exist, `prepare` fails fast for this long before asking again,
   * so a burst of garbage records with random ids does not turn into a burst of registry requests.
   */
  unknownIdRetryMs?: number;
  /** Clock for the negative cache above; injectable for tests. */
  now?: () => number;
}

/** How to read one writer schema id. */
interface DecodePlan {
  readonly schemaId: number;
  /** Undefined when writer and reader have the same canonical schema: plain reads, no resolution. */
  readonly resolver: avro.Resolver | undefined;
  /** Set when the writer schema cannot be read as the reader (e.g. another record written to the topic). */
  readonly unreadable: string | undefined;
  readonly writerName: string;
}

const DEFAULT_SCRATCH_BYTES = 512;
const DEFAULT_UNKNOWN_ID_RETRY_MS = 30_000;

export class AvroCodec<T extends object> {
  /** Short record name of the reader schema, for messages. */
  readonly name: string;
  readonly readerType: avro.Type;
  private readonly registry: SchemaRegistryPort | undefined;
  private readonly unknownIdRetryMs: number;
  private readonly now: () => number;

  private encodeId: number | undefined;
  private readonly plans = new Map<number, DecodePlan>();
  // Last-id fast path: consecutive records almost always share the writer id.
  // NaN never equals an id, so the first record always takes the Map path.
  private lastId = NaN;
  private lastPlan: DecodePlan | undefined;
  private readonly inFlight = new Map<number, Promise<void>>();
  private readonly unknownUntil = new Map<number, number>();

  private scratch: Buffer;

  constructor(reader: CatalogueEntry, options: AvroCodecOptions = {}) {
    this.name = reader.name;
    this.readerType = reader.type;
    this.registry = options.registry;
    this.unknownIdRetryMs = options.unknownIdRetryMs ?? DEFAULT_UNKNOWN_ID_RETRY_MS;
    this.now = options.now ?? Date.now;
    this.scratch = Buffer.allocUnsafeSlow(Math.max(HEADER_LENGTH + 1, options.initialScratchBytes ?? DEFAULT_SCRATCH_BYTES));
    if (options.schemaId !== undefined) this.useSchemaId(options.schemaId);
  }

  /** The id stamped on encoded records, once known. */
  get schemaId(): number | undefined {
    return this.encodeId;
  }

  /** Current scratch capacity in bytes (grows, never shrinks). */
  get scratchCapacity(): number {
    return this.scratch.length;
  }

  /** Sets the id to encode with; the reader schema is that id's writer schema, so it decodes without a fetch. */
  useSchemaId(id: number): void {
    checkId(id);
    this.encodeId = id;
    this.addWriterSchema(id, this.readerType);
  }

  /** Whether `decode` can read records with this writer id without going to the registry. */
  hasSchema(id: number): boolean {
    return this.plans.has(id);
  }

  /**
   * Makes a writer schema known locally (compiled once; a second call for the same id is a no-op). A writer
   * schema that cannot be resolved to the reader is remembered as such: its records fail CODEC_DECODE_FAILED.
   */
  addWriterSchema(id: number, writer: string | avro.Type): void {
    checkId(id);
    if (this.plans.has(id)) return;
    let writerType: avro.Type;
    try {
      writerType = typeof writer === 'string' ? avro.Type.forSchema(JSON.parse(writer) as avro.Schema, avscOptions()) : writer;
    } catch (e) {
      // Not compilable here (bad JSON, or an Avro feature avsc lacks): its records go to the DLQ, not a crash.
      this.plans.set(id, { schemaId: id, resolver: undefined, unreadable: `writer schema does not compile: ${(e as Error).message}`, writerName: 'unknown' });
      this.unknownUntil.delete(id);
      return;
    }
    const writerName = writerType.name ?? writerType.typeName;
    let plan: DecodePlan;
    if (writerType.equals(this.readerType)) {
      plan = { schemaId: id, resolver: undefined, unreadable: undefined, writerName };
    } else {
      try {
        plan = { schemaId: id, resolver: this.readerType.createResolver(writerType), unreadable: undefined, writerName };
      } catch (e) {
        plan = { schemaId: id, resolver: undefined, unreadable: (e as Error).message, writerName };
      }
    }
    this.plans.set(id, plan);
    this.unknownUntil.delete(id);
  }

  /**
   * Loads writer schema `id` from the registry unless it is known. Concurrent calls for one id share one
   * request. Rejects with CODEC_UNKNOWN_SCHEMA when the registry has no such id (remembered for
   * `unknownIdRetryMs`) and with SCHEMA_REGISTRY when the registry cannot be asked (not remembered).
   */
  prepare(id: number): Promise<void> {
    if (this.plans.has(id)) return Promise.resolve();
    const pending = this.inFlight.get(id);
    if (pending) return pending;
    const until = this.unknownUntil.get(id);
    if (until !== undefined && this.now() < until) return Promise.reject(this.unknownSchema(id, undefined, 'the registry did not know it when last asked'));
    if (!this.registry) return Promise.reject(this.unknownSchema(id, undefined, 'no schema registry is configured'));
    const registry = this.registry;
    const request = (async () => {
      try {
        const text = await registry.fetchSchema(id);
        this.addWriterSchema(id, text);
      } catch (e) {
        if (e instanceof KlinestreamError && e.code === 'CODEC_UNKNOWN_SCHEMA') this.unknownUntil.set(id, this.now() + this.unknownIdRetryMs);
        throw e;
      } finally {
        this.inFlight.delete(id);
      }
    })();
    this.inFlight.set(id, request);
    return request;
  }

  /**
   * Decodes one wire-format record whose writer id is already known. Errors carry `schemaId` and
   * `byteLength` in their details: CODEC_TRUNCATED, CODEC_BAD_MAGIC, CODEC_UNKNOWN_SCHEMA, CODEC_DECODE_FAILED.
   */
  decode(buf: Buffer): T {
    const length = buf.length;
    if (length < HEADER_LENGTH) throw truncatedHeader(length);
    if (buf[0] !== MAGIC_BYTE) throw badMagic(buf[0]!, length);
    const id = buf.readInt32BE(1);
    let plan: DecodePlan | undefined;
    if (id === this.lastId) {
      plan = this.lastPlan!;
    } else {
      plan = this.plans.get(id);
      if (plan === undefined) throw this.unknownSchema(id, length, 'call prepare(id) or decodeAsync() first');
      this.lastId = id;
      this.lastPlan = plan;
    }
    if (plan.unreadable !== undefined) {
      throw new KlinestreamError('CODEC_DECODE_FAILED', `schema id ${id} (${plan.writerName}) cannot be read as ${this.readerType.name}: ${plan.unreadable}`, { schemaId: id, byteLength: length });
    }
    let result: { value: unknown; offset: number };
    try {
      result = this.readerType.decode(buf, HEADER_LENGTH, plan.resolver);
    } catch (e) {
      throw new KlinestreamError('CODEC_DECODE_FAILED', `invalid Avro body for ${this.name} (schema id ${id}, ${length} bytes): ${(e as Error).message}`, { schemaId: id, byteLength: length }, { cause: e });
    }
    if (result.offset < 0) {
      throw new KlinestreamError('CODEC_TRUNCATED', `Avro body for ${this.name} is cut short (schema id ${id}, ${length} bytes)`, { schemaId: id, byteLength: length });
    }
    if (result.offset !== length) {
      throw new KlinestreamError(
        'CODEC_DECODE_FAILED',
        `${length - result.offset} trailing byte(s) after the ${this.name} record (schema id ${id}, ${length} bytes): not a record of this schema`,
        { schemaId: id, byteLength: length, trailingBytes: length - result.offset },
      );
    }
    return result.value as T;
  }

  /** `decode`, fetching the writer schema first if its id was never seen. */
  async decodeAsync(buf: Buffer): Promise<T> {
    if (buf.length >= HEADER_LENGTH && buf[0] === MAGIC_BYTE) {
      const id = buf.readInt32BE(1);
      if (!this.plans.has(id)) {
        try {
          await this.prepare(id);
        } catch (e) {
          // Add the record's size so the DLQ path has the same details as from decode().
          if (e instanceof KlinestreamError && e.code === 'CODEC_UNKNOWN_SCHEMA') throw this.unknownSchema(id, buf.length, e.message, e);
          throw e;
        }
      }
    }
    return this.decode(buf);
  }

  /**
   * Encodes header + body at `pos` of `target`. Returns the end offset, or, when the record does not fit, a
   * negative number whose magnitude is the number of bytes missing (the caller grows and retries; nothing
   * before `pos` was touched). Invalid values throw CODEC_ENCODE_FAILED.
   */
  encodeInto(value: T, target: Buffer, pos: number): number {
    const id = this.encodeId;
    if (id === undefined) {
      throw new KlinestreamError('CODEC_ENCODE_FAILED', `cannot encode ${this.name}: no schema id yet (register the schema first)`, { schema: this.name });
    }
    let end: number;
    try {
      // avsc writes the body past the header slot even when that slot is beyond the buffer: writes out of
      // range are dropped and the returned shortfall is still exact, so one growth step always suffices.
      end = this.readerType.encode(value, target, pos + HEADER_LENGTH);
    } catch (e) {
      throw this.encodeFailed(value, id, e);
    }
    if (end < 0) return end;
    writeHeader(target, pos, id);
    return end;
  }

  /** Encodes into the codec's scratch buffer; the view is valid until the next encode call on this codec. */
  encodeToScratch(value: T): Buffer {
    let end = this.encodeInto(value, this.scratch, 0);
    if (end < 0) {
      this.scratch = Buffer.allocUnsafeSlow(grownSize(this.scratch.length, this.scratch.length - end));
      end = this.encodeInto(value, this.scratch, 0);
      if (end < 0) throw this.encodeFailed(value, this.encodeId!, new Error(`record still does not fit after growing the scratch buffer to ${this.scratch.length} bytes`));
    }
    return this.scratch.subarray(0, end);
  }

  /**
   * Encodes into a new buffer of exactly the record's size that the caller owns (e.g. to hand to a Kafka
   * producer one record at a time); one allocation and one copy, no concatenation.
   */
  encode(value: T): Buffer {
    const view = this.encodeToScratch(value);
    const out = Buffer.allocUnsafe(view.length);
    view.copy(out, 0, 0, view.length);
    return out;
  }

  private unknownSchema(id: number, byteLength: number | undefined, hint: string, cause?: unknown): KlinestreamError {
    const details: Record<string, unknown> = { schemaId: id };
    if (byteLength !== undefined) details.byteLength = byteLength;
    return new KlinestreamError('CODEC_UNKNOWN_SCHEMA', `unknown schema id ${id} for ${this.name}: ${hint}`, details, cause === undefined ? undefined : { cause });
  }

  private encodeFailed(value: T, id: number, e: unknown): KlinestreamError {
    // Only on the error path: ask avsc which fields are wrong so the message names them.
    const paths: string[] = [];
    try {
      this.readerType.isValid(value, { errorHook: (p: string[]) => paths.push(p.join('.') || '(record)') });
    } catch {
      // A value so malformed that validation itself throws: the original message has to do.
    }
    const where = paths.length > 0 ? ` (invalid field(s): ${paths.join(', ')})` : '';
    return new KlinestreamError('CODEC_ENCODE_FAILED', `cannot encode ${this.name}${where}: ${(e as Error).message}`, { schema: this.name, schemaId: id, fields: paths }, { cause: e });
  }
}

/** Next buffer size: at least double (amortised growth), at least what is needed. */
export function grownSize(current: number, needed: number): number {
  let size = Math.max(current * 2, 64);
  while (size < needed) size *= 2;
  return size;
}

function checkId(id: number): void {
  // Confluent ids are int32 on the wire; anything else cannot be written into the header.
  if (!Number.isInteger(id) || id < -0x80000000 || id > 0x7fffffff) {
    throw new KlinestreamError('CODEC_UNKNOWN_SCHEMA', `schema id ${id} is not a 32-bit integer`, { schemaId: id });
  }
}
