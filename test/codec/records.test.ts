/**
 * The hand-written TypeScript shapes must match the schemas. The samples below are typed object literals,
 * so the compiler rejects a missing or extra property; these tests then compare their keys with the schema
 * fields, so a field added to a schema without the type (or the other way round) fails here.
 */
import type * as avro from 'avsc';
import { SchemaCatalogue } from '../../src/codec/schema-catalogue';
import { SCHEMA_NAMES, symbolEntry, watermarkTrade } from '../../src/codec/records';
import { sampleKline, sampleSymbol, sampleTrade } from './fixtures';

const catalogue = SchemaCatalogue.load();

interface FieldLike {
  name: string;
  type: avro.Type;
  defaultValue(): unknown;
}

function fields(name: 'Trade' | 'Kline' | 'SymbolEntry'): FieldLike[] {
  return (catalogue.get(name).type as unknown as { fields: FieldLike[] }).fields;
}

describe('record shapes', () => {
  it('cover exactly the schema fields, in schema order', () => {
    expect(Object.keys(sampleTrade)).toEqual(fields('Trade').map((f) => f.name));
    expect(Object.keys(sampleKline)).toEqual(fields('Kline').map((f) => f.name));
    expect(Object.keys(sampleSymbol)).toEqual(fields('SymbolEntry').map((f) => f.name));
    expect([...SCHEMA_NAMES].sort()).toEqual(catalogue.names().sort());
  });

  it('samples are valid values of their schemas', () => {
    expect(catalogue.get('Trade').type.isValid(sampleTrade)).toBe(true);
    expect(catalogue.get('Kline').type.isValid(sampleKline)).toBe(true);
    expect(catalogue.get('SymbolEntry').type.isValid(sampleSymbol)).toBe(true);
  });

  it('Trade has the SPEC fields with their Avro types, and kind first with default TRADE', () => {
    const types = Object.fromEntries(fields('Trade').map((f) => [f.name, f.type.typeName]));
    expect(types).toEqual({
      kind: 'enum', symbolIndex: 'int', aggId: 'long', firstTradeId: 'long', lastTradeId: 'long',
      price: 'double', quantity: 'double', tradeTime: 'long', eventTime: 'long', isBuyerMaker: 'boolean',
      targetPartition: 'int',
    });
    expect(fields('Trade')[0]!.name).toBe('kind');
    expect(fields('Trade')[0]!.defaultValue()).toBe('TRADE');
  });

  it('Kline has the SPEC fields with their Avro types', () => {
    const types = Object.fromEntries(fields('Kline').map((f) => [f.name, f.type.typeName]));
    expect(types).toEqual({
      symbol: 'string', interval: 'string', openTime: 'long', closeTime: 'long', open: 'double', high: 'double',
      low: 'double', close: 'double', volume: 'double', quoteVolume: 'double', tradeCount: 'long',
      takerBuyVolume: 'double', takerBuyQuoteVolume: 'double', firstTradeId: 'long', lastTradeId: 'long',
      isFinal: 'boolean', version: 'long',
    });
  });

  it('watermarkTrade fills the not-a-trade values the schema documents', () => {
    expect(watermarkTrade(1_000, 1_005)).toEqual({
      kind: 'WATERMARK', symbolIndex: -1, aggId: -1, firstTradeId: -1, lastTradeId: -1,
      price: 0, quantity: 0, tradeTime: 1_000, eventTime: 1_005, isBuyerMaker: false, targetPartition: -1,
    });
    expect(watermarkTrade(2_000).eventTime).toBe(2_000);
  });

  it('symbolEntry uses the same defaults as the schema', () => {
    const defaults = Object.fromEntries(fields('SymbolEntry').filter((f) => f.defaultValue() !== undefined).map((f) => [f.name, f.defaultValue()]));
    expect(defaults).toEqual({ status: 'TRADING', baseAsset: '', quoteAsset: '', pricePrecision: -1, quantityPrecision: -1, partition: -1, placementEpoch: 0 });
    expect(symbolEntry('BTCUSDT', 0)).toEqual({ symbol: 'BTCUSDT', index: 0, ...defaults });
    expect(symbolEntry('BTCUSDT', 0, { pricePrecision: 2 }).pricePrecision).toBe(2);
  });
});
