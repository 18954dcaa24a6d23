/**
 * TypeScript shapes of the Avro records in schemas/*.avsc. They are written by hand (the schemas are the
 * contract); test/codec/records.test.ts checks that every schema field appears here and vice versa, so the
 * two cannot drift apart silently. Avro `long` maps to `number`: avsc refuses values beyond 2^53 on both
 * encode and decode, which exchange ids and epoch milliseconds never reach.
 */

/** What a `trades` record is: an exchange trade, or the producer's event-time watermark for the partition. */
export type TradeKind = 'TRADE' | 'WATERMARK' | 'HANDOVER';

export interface Trade {
  kind: TradeKind;
  symbolIndex: number;
  aggId: number;
  firstTradeId: number;
  lastTradeId: number;
  price: number;
  quantity: number;
  /** TRADE: trade time (ms). WATERMARK: the partition's event-time watermark (ms). */
  tradeTime: number;
  /** Exchange event time (ms) of the frame; for a WATERMARK the event time the producer had reached. */
  eventTime: number;
  isBuyerMaker: boolean;
  /** HANDOVER: the partition the symbol moves to; -1 otherwise. */
  targetPartition: number;
}

export interface Kline {
  symbol: string;
  interval: string;
  openTime: number;
  closeTime: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  quoteVolume: number;
  tradeCount: number;
  takerBuyVolume: number;
  takerBuyQuoteVolume: number;
  firstTradeId: number;
  lastTradeId: number;
  isFinal: boolean;
  version: number;
}

export interface SymbolEntry {
  symbol: string;
  index: number;
  status: string;
  baseAsset: string;
  quoteAsset: string;
  pricePrecision: number;
  quantityPrecision: number;
  /** The trades / kline-state partition of the symbol; -1 when unknown. */
  partition: number;
  /** 0 at the first placement, +1 per migration. */
  placementEpoch: number;
}

/** Record name (the short Avro name) to TypeScript shape. */
export interface RecordTypes {
  Trade: Trade;
  Kline: Kline;
  SymbolEntry: SymbolEntry;
}

export type SchemaName = keyof RecordTypes;

export const SCHEMA_NAMES: readonly SchemaName[] = ['Trade', 'Kline', 'SymbolEntry'];

/**
 * A WATERMARK record as the schema documents it: every field but the watermark itself carries its
 * "not a trade" value, so a consumer that forgets to check `kind` sees symbol -1 rather than a real symbol.
 */
export function watermarkTrade(watermarkMs: number, eventTimeMs: number = watermarkMs): Trade {
  return {
    kind: 'WATERMARK',
    symbolIndex: -1,
    aggId: -1,
    firstTradeId: -1,
    lastTradeId: -1,
    price: 0,
    quantity: 0,
    tradeTime: watermarkMs,
    eventTime: eventTimeMs,
    isBuyerMaker: false,
    targetPartition: -1,
  };
}

/** SymbolEntry with the schema defaults filled in for the optional extras. */
export function symbolEntry(symbol: string, index: number, extras: Partial<Omit<SymbolEntry, 'symbol' | 'index'>> = {}): SymbolEntry {
  return {
    symbol,
    index,
    status: extras.status ?? 'TRADING',
    baseAsset: extras.baseAsset ?? '',
    quoteAsset: extras.quoteAsset ?? '',
    pricePrecision: extras.pricePrecision ?? -1,
    quantityPrecision: extras.quantityPrecision ?? -1,
    partition: extras.partition ?? -1,
    placementEpoch: extras.placementEpoch ?? 0,
  };
}
