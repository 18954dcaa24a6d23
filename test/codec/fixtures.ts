/**
 * Shared test fixtures for the codec: sample records, fast-check arbitraries matching the schemas, and an
 * in-memory stand-in for the schema registry (pure bookkeeping; the real registry is exercised in
 * test/integration/codec.test.ts).
 */
import fc from 'fast-check';
import { KlinestreamError } from '../../src/errors';
import type { Kline, SymbolEntry, Trade } from '../../src/codec/records';
import type { SchemaRegistryPort } from '../../src/codec/schema-registry';

export const sampleTrade: Trade = {
  kind: 'TRADE',
  symbolIndex: 17,
  aggId: 2_345_678_901,
  firstTradeId: 5_000_000_001,
  lastTradeId: 5_000_000_004,
  price: 67_123.45,
  quantity: 0.012,
  tradeTime: 1_717_171_717_171,
  eventTime: 1_717_171_717_180,
  isBuyerMaker: true,
  targetPartition: -1,
};

export const sampleKline: Kline = {
  symbol: 'BTCUSDT',
  interval: '1m',
  openTime: 1_717_171_680_000,
  closeTime: 1_717_171_739_999,
  open: 67_100,
  high: 67_200.5,
  low: 67_050.25,
  close: 67_123.45,
  volume: 12.5,
  quoteVolume: 838_543.1,
  tradeCount: 431,
  takerBuyVolume: 6.25,
  takerBuyQuoteVolume: 419_271.55,
  firstTradeId: 5_000_000_001,
  lastTradeId: 5_000_000_431,
  isFinal: false,
  version: 431,
};

export const sampleSymbol: SymbolEntry = {
  symbol: 'ETHUSDT',
  index: 3,
  status: 'TRADING',
  baseAsset: 'ETH',
  quoteAsset: 'USDT',
  pricePrecision: 2,
  quantityPrecision: 3,
  partition: 2,
  placementEpoch: 0,
};

const int32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
// avsc 5.7 round-trips longs in [-2^52, 2^53 - 2] only: below -2^52 its zigzag arithmetic leaves the exact
// double range and silently returns a wrong value (see docs/codec.md). Our longs (ids, epoch ms) are far inside.
const long = fc.integer({ min: -(2 ** 52), max: 2 ** 53 - 2 });
// Any double, NaN and -0 included: Avro stores the IEEE bits, so they must come back identical.
const double = fc.double();
const text = fc.string({ unit: 'grapheme', maxLength: 24 });

export const tradeArb: fc.Arbitrary<Trade> = fc.record({
  kind: fc.constantFrom('TRADE' as const, 'WATERMARK' as const, 'HANDOVER' as const),
  symbolIndex: int32,
  aggId: long,
  firstTradeId: long,
  lastTradeId: long,
  price: double,
  quantity: double,
  tradeTime: long,
  eventTime: long,
  isBuyerMaker: fc.boolean(),
  targetPartition: int32,
});

export const klineArb: fc.Arbitrary<Kline> = fc.record({
  symbol: text,
  interval: fc.constantFrom('1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '1w', '1M'),
  openTime: long,
  closeTime: long,
  open: double,
  high: double,
  low: double,
  close: double,
  volume: double,
  quoteVolume: double,
  tradeCount: long,
  takerBuyVolume: double,
  takerBuyQuoteVolume: double,
  firstTradeId: long,
  lastTradeId: long,
  isFinal: fc.boolean(),
  version: long,
});

export const symbolEntryArb: fc.Arbitrary<SymbolEntry> = fc.record({
  symbol: text,
  index: int32,
  status: text,
  baseAsset: text,
  quoteAsset: text,
  pricePrecision: int32,
  quantityPrecision: int32,
  partition: int32,
  placementEpoch: int32,
});

/** Registry stand-in: ids from 1, one per distinct (canonical) text, and a count of fetches per id. */
export class InMemoryRegistry implements SchemaRegistryPort {
  readonly schemas = new Map<number, string>();
  readonly fetches = new Map<number, number>();
  private nextId = 1;

  add(schema: string): number {
    for (const [id, s] of this.schemas) if (s === schema) return id;
    const id = this.nextId++;
    this.schemas.set(id, schema);
    return id;
  }

  async register(_subject: string, schema: string): Promise<number> {
    return this.add(schema);
  }

  async fetchSchema(id: number): Promise<string> {
    this.fetches.set(id, (this.fetches.get(id) ?? 0) + 1);
    // Answer on a later tick, like a network round trip, so concurrent callers really overlap.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const schema = this.schemas.get(id);
    if (schema === undefined) throw new KlinestreamError('CODEC_UNKNOWN_SCHEMA', `no schema id ${id}`, { schemaId: id });
    return schema;
  }
}

/** Runs `fn` and returns what it threw (failing the test when it did not throw). */
export function caught(fn: () => unknown): KlinestreamError {
  try {
    fn();
  } catch (e) {
    if (e instanceof KlinestreamError) return e;
    throw new Error(`expected a KlinestreamError, got ${String(e)}`);
  }
  throw new Error('expected an error, nothing was thrown');
}

export async function caughtAsync(p: Promise<unknown>): Promise<KlinestreamError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof KlinestreamError) return e;
    throw new Error(`expected a KlinestreamError, got ${String(e)}`);
  }
  throw new Error('expected a rejection, the promise resolved');
}
