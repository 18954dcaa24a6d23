/**
 * Decodes the records of one `trades` partition batch straight into the aggregator's TradeColumns: the
 * compiled reader for the registered Trade schema on the per-record path (no object per record), avsc for
 * any other writer schema id (an older or newer Trade schema), and a verdict for everything else. Watermarks
 * and hand-over markers are control records: the caller applies the trades decoded so far before them.
 */
import type { AvroCodec } from '../codec/avro-codec';
import type { Trade } from '../codec/records';
import { TRADE_HANDOVER, TRADE_OK, TRADE_OTHER_SCHEMA, TRADE_WATERMARK, TradeWireReader } from '../codec/trade-wire';
import { HEADER_LENGTH, MAGIC_BYTE } from '../codec/wire-format';
import type { TradeColumns } from '../aggregation/trade-columns';
import { KlinestreamError } from '../errors';

export const DECODED_TRADE = 0;
export const DECODED_WATERMARK = 1;
export const DECODED_HANDOVER = 2;
export const DECODED_BAD = 3;
export const DECODED_UNKNOWN_SCHEMA = 4;
export type DecodeResult = typeof DECODED_TRADE | typeof DECODED_WATERMARK | typeof DECODED_HANDOVER | typeof DECODED_BAD | typeof DECODED_UNKNOWN_SCHEMA;

export class TradeDecoder {
  /** WATERMARK: its time. HANDOVER: symbol, target partition, last aggregate id. */
  watermark = 0;
  handoverSymbol = -1;
  handoverTarget = -1;
  handoverAggId = -1;
  /** Why the last record was DECODED_BAD / DECODED_UNKNOWN_SCHEMA. */
  error = '';
  private readonly fast: TradeWireReader;

  constructor(private readonly codec: AvroCodec<Trade>, schemaId: number) {
    this.fast = new TradeWireReader(schemaId);
  }

  /** True when `value` names a schema id not resolved yet (prepare() must run before decode()). */
  needsPrepare(value: Buffer | null): boolean {
    if (value === null || value.length < HEADER_LENGTH || value[0] !== MAGIC_BYTE) return false;
    const id = value.readInt32BE(1);
    return id !== this.fast.schemaId && !this.codec.hasSchema(id);
  }

  /** Schema ids other than ours must be fetched before decode(): call for a batch's ids first. */
  async prepare(value: Buffer | null): Promise<void> {
    if (!this.needsPrepare(value)) return;
    const id = value!.readInt32BE(1);
    try {
      await this.codec.prepare(id);
    } catch (e) {
      // Unknown to the registry: decode() reports the record as DECODED_UNKNOWN_SCHEMA. A registry that
      // cannot be asked is not the record's fault: that error goes up and the batch is retried.
      if (!(e instanceof KlinestreamError && e.code === 'CODEC_UNKNOWN_SCHEMA')) throw e;
    }
  }

  /** Appends a TRADE to `cols` (at cols.length), or classifies the record. */
  decode(value: Buffer | null, cols: TradeColumns): DecodeResult {
    if (value === null) {
      this.error = 'record has no value';
      return DECODED_BAD;
    }
    const r = this.fast.read(value, cols);
    if (r === TRADE_OK) return DECODED_TRADE;
    if (r === TRADE_WATERMARK) {
      this.watermark = this.fast.watermark;
      return DECODED_WATERMARK;
    }
    if (r === TRADE_HANDOVER) {
      this.handoverSymbol = this.fast.symbolIndex;
      this.handoverTarget = this.fast.targetPartition;
      this.handoverAggId = this.fast.aggId;
      return DECODED_HANDOVER;
    }
    if (r !== TRADE_OTHER_SCHEMA) {
      this.error = this.fast.describe(r);
      return DECODED_BAD;
    }
    return this.slow(value, cols);
  }

  /** Another writer schema: avsc with schema resolution (an object per record, off the usual path). */
  private slow(value: Buffer, cols: TradeColumns): DecodeResult {
    let t: Trade;
    try {
      t = this.codec.decode(value);
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
      return e instanceof KlinestreamError && e.code === 'CODEC_UNKNOWN_SCHEMA' ? DECODED_UNKNOWN_SCHEMA : DECODED_BAD;
    }
    if (t.kind === 'WATERMARK') {
      this.watermark = t.tradeTime;
      return DECODED_WATERMARK;
    }
    if (t.kind === 'HANDOVER') {
      this.handoverSymbol = t.symbolIndex;
      this.handoverTarget = t.targetPartition;
      this.handoverAggId = t.aggId;
      return DECODED_HANDOVER;
    }
    cols.push(t.symbolIndex, t.aggId, t.firstTradeId, t.lastTradeId, t.price, t.quantity, t.tradeTime, t.isBuyerMaker);
    return DECODED_TRADE;
  }
}
