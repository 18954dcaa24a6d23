import fc from 'fast-check';
import { INTERVAL_NAMES, type IntervalName } from '../../src/aggregation/intervals';
import { KlineBatch } from '../../src/aggregation/kline-batch';
import { AvroCodec } from '../../src/codec/avro-codec';
import { EncodeArena } from '../../src/codec/encode-arena';
import type { Kline } from '../../src/codec/records';
import { SchemaCatalogue, compileSchema } from '../../src/codec/schema-catalogue';
import { KLINE_MAX_FIXED_BYTES, KlineWireWriter, isKlineLayout } from '../../src/codec/kline-wire';
import { LONG_MAX, LONG_MIN, sameSchema } from '../../src/codec/trade-wire';
import { caught, klineArb, sampleKline } from './fixtures';

const catalogue = SchemaCatalogue.load();
const KLINE = catalogue.get('Kline');
const ID = 11;
const codec = new AvroCodec<Kline>(KLINE, { schemaId: ID });

const edgeLong = fc.constantFrom(0, -1, 1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 32, -(2 ** 32), -(2 ** 52), 2 ** 53 - 2, 1_717_171_680_000);
const powerLong = fc
  .tuple(fc.integer({ min: 0, max: 53 }), fc.integer({ min: -1, max: 1 }), fc.boolean())
  .map(([k, d, neg]) => (neg ? -(2 ** k) - d : 2 ** k + d))
  .filter((v) => v >= LONG_MIN && v <= LONG_MAX);
const long = fc.oneof(fc.integer({ min: LONG_MIN, max: LONG_MAX }), fc.integer({ min: -100_000, max: 100_000 }), powerLong, edgeLong);
const double = fc.oneof(fc.double(), fc.constantFrom(-0, NaN, Infinity, -Infinity, Number.MIN_VALUE, 2 ** -1040, Number.MAX_VALUE));
const name = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 24 }), fc.constantFrom('BTCUSDT', '', 'x'.repeat(200), '1000SHIBUSDT', '币安币USDT'));
const edgeKlineArb: fc.Arbitrary<Kline> = fc.record({
  symbol: name,
  interval: fc.constantFrom(...INTERVAL_NAMES),
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
const anyKline = fc.oneof(klineArb, edgeKlineArb);

function setRow(b: KlineBatch, i: number, k: Kline, symbolIndex: number): void {
  b.symbolIndex[i] = symbolIndex;
  b.intervalId[i] = INTERVAL_NAMES.indexOf(k.interval as IntervalName);
  b.openTime[i] = k.openTime;
  b.closeTime[i] = k.closeTime;
  b.open[i] = k.open;
  b.high[i] = k.high;
  b.low[i] = k.low;
  b.close[i] = k.close;
  b.volume[i] = k.volume;
  b.quoteVolume[i] = k.quoteVolume;
  b.tradeCount[i] = k.tradeCount;
  b.takerBuyVolume[i] = k.takerBuyVolume;
  b.takerBuyQuoteVolume[i] = k.takerBuyQuoteVolume;
  b.firstTradeId[i] = k.firstTradeId;
  b.lastTradeId[i] = k.lastTradeId;
  b.isFinal[i] = k.isFinal ? 1 : 0;
  b.version[i] = k.version;
}

function written(w: KlineWireWriter, b: KlineBatch, i: number): Buffer {
  const target = Buffer.alloc(KLINE_MAX_FIXED_BYTES + 2048);
  return target.subarray(0, w.write(b, i, target, 0));
}

describe('KlineWireWriter', () => {
  it('is compiled for exactly the catalogue Kline schema (fails when schemas/kline.avsc changes)', () => {
    expect(isKlineLayout(KLINE)).toBe(true);
    expect(sameSchema(KLINE.text, KLINE)).toBe(true);
    expect(() => new KlineWireWriter(ID, { catalogueEntry: KLINE })).not.toThrow();
    const schema = JSON.parse(KLINE.text) as { fields: Array<Record<string, unknown>> };
    schema.fields.push({ name: 'venue', type: 'string', default: '' });
    const changed = compileSchema(schema, 'Kline variant');
    expect(isKlineLayout(changed)).toBe(false);
    expect(caught(() => new KlineWireWriter(ID, { catalogueEntry: changed })).code).toBe('SCHEMA_CATALOGUE');
  });

  it('writes the same bytes as avsc for every valid record (any symbol string, edge longs and doubles)', () => {
    const w = new KlineWireWriter(ID);
    const b = new KlineBatch(16);
    let next = 0;
    const indexOf = new Map<string, number>();
    fc.assert(
      fc.property(anyKline, (k) => {
        let s = indexOf.get(k.symbol);
        if (s === undefined) {
          indexOf.set(k.symbol, (s = next++));
          w.setSymbolName(s, k.symbol);
        }
        setRow(b, 3, k, s);
        expect(written(w, b, 3).equals(codec.encode(k))).toBe(true);
      }),
      { numRuns: 3000 },
    );
    expect(next).toBeGreaterThan(300); // the caches grew well past their first size
  });

  it('encodes names exactly as avsc does, lone surrogates included', () => {
    const w = new KlineWireWriter(ID);
    const b = new KlineBatch(16);
    ['\ud800', 'a\udc00b', '\u0000', 'é', '😀'].forEach((n, s) => {
      w.setSymbolName(s, n);
      setRow(b, 0, { ...sampleKline, symbol: n }, s);
      expect(written(w, b, 0).equals(codec.encode({ ...sampleKline, symbol: n }))).toBe(true);
    });
  });

  it('reports the exact shortfall like AvroCodec.encodeInto, and writes nothing then', () => {
    const w = new KlineWireWriter(ID);
    w.setSymbolName(0, sampleKline.symbol);
    const b = new KlineBatch(16);
    fc.assert(
      fc.property(anyKline, fc.integer({ min: 0, max: 20 }), (k, pos) => {
        const kk = { ...k, symbol: sampleKline.symbol };
        setRow(b, 0, kk, 0);
        const size = codec.encode(kk).length;
        for (let room = 0; room <= size + 1; room++) {
          const mine = Buffer.alloc(pos + room, 0xee);
          const theirs = Buffer.alloc(pos + room, 0xee);
          const end = w.write(b, 0, mine, pos);
          expect(end).toBe(codec.encodeInto(kk, theirs, pos));
          if (end < 0) expect(mine.every((x) => x === 0xee)).toBe(true);
          else expect(mine.equals(theirs)).toBe(true);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('fills the name cache lazily through nameOf, once per symbol', () => {
    const asked: number[] = [];
    const w = new KlineWireWriter(ID, { nameOf: (s) => (asked.push(s), s === 9 ? undefined : `S${s}USDT`) });
    const b = new KlineBatch(16);
    for (const s of [5, 5, 700, 5]) {
      setRow(b, 0, sampleKline, s);
      expect(written(w, b, 0).equals(codec.encode({ ...sampleKline, symbol: `S${s}USDT` }))).toBe(true);
    }
    expect(asked).toEqual([5, 700]);
    expect(w.hasSymbolName(700)).toBe(true);
    setRow(b, 0, sampleKline, 9);
    const e = caught(() => written(w, b, 0));
    expect(e.code).toBe('CODEC_ENCODE_FAILED');
    expect(e.details.fields).toEqual(['symbol']);
  });

  it('a renamed symbol is written with its new name; setting the same name again changes nothing', () => {
    const w = new KlineWireWriter(ID);
    const b = new KlineBatch(16);
    setRow(b, 0, sampleKline, 2);
    w.setSymbolName(2, 'OLDUSDT');
    w.setSymbolName(2, 'OLDUSDT');
    expect(written(w, b, 0).equals(codec.encode({ ...sampleKline, symbol: 'OLDUSDT' }))).toBe(true);
    w.setSymbolName(2, 'NEWUSDT');
    expect(written(w, b, 0).equals(codec.encode({ ...sampleKline, symbol: 'NEWUSDT' }))).toBe(true);
    expect(() => w.setSymbolName(-1, 'X')).toThrow(RangeError);
    expect(() => w.setSymbolName(1.5, 'X')).toThrow(RangeError);
  });

  it('holds thousands of symbols (cache growth keeps every earlier name)', () => {
    const w = new KlineWireWriter(ID);
    const b = new KlineBatch(16);
    for (let s = 0; s < 5000; s++) w.setSymbolName(s, `SYMBOL${s}-${'x'.repeat(s % 40)}`);
    for (let s = 0; s < 5000; s += 37) {
      setRow(b, 1, sampleKline, s);
      expect(written(w, b, 1).equals(codec.encode({ ...sampleKline, symbol: `SYMBOL${s}-${'x'.repeat(s % 40)}` }))).toBe(true);
    }
  });

  it('works with EncodeArena through encoderFor (growth included)', () => {
    const w = new KlineWireWriter(ID);
    const klines = fc.sample(anyKline, { numRuns: 300, seed: 3 });
    const b = new KlineBatch(klines.length);
    klines.forEach((k, i) => {
      w.setSymbolName(i, k.symbol);
      setRow(b, i, k, i);
    });
    b.length = klines.length;
    const arena = new EncodeArena(128);
    const enc = w.encoderFor(b);
    const views = klines.map((_, i) => arena.encode(enc, i));
    expect(arena.chunks).toBeGreaterThan(1);
    views.forEach((v, i) => expect(v.equals(codec.encode(klines[i]!))).toBe(true));
  });

  it('refuses what avsc refuses (and longs below -2^52) with CODEC_ENCODE_FAILED naming the field', () => {
    const w = new KlineWireWriter(ID);
    w.setSymbolName(0, 'BTCUSDT');
    const b = new KlineBatch(16);
    const cases: Array<[keyof Kline, number]> = [
      ['openTime', 2 ** 53 - 1], ['closeTime', 0.5], ['tradeCount', NaN], ['firstTradeId', Infinity], ['lastTradeId', -(2 ** 53)], ['version', -(2 ** 52) - 1],
    ];
    for (const [field, value] of cases) {
      setRow(b, 0, { ...sampleKline, [field]: value } as Kline, 0);
      const e = caught(() => written(w, b, 0));
      expect(e.code).toBe('CODEC_ENCODE_FAILED');
      expect(e.details.fields).toEqual([field]);
      expect(caught(() => w.recordBytes(b, 0)).details.fields).toEqual([field]);
    }
    setRow(b, 0, sampleKline, 0);
    b.intervalId[0] = INTERVAL_NAMES.length;
    expect(caught(() => written(w, b, 0)).details.fields).toEqual(['interval']);
    setRow(b, 0, sampleKline, 0);
    expect(() => w.write(b, 16, Buffer.alloc(200), 0)).toThrow(RangeError);
    b.isFinal[0] = 9; // any non-zero byte is true, as avsc writes !!value
    expect(written(w, b, 0).equals(codec.encode({ ...sampleKline, isFinal: true }))).toBe(true);
  });
});
