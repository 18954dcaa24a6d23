import * as avro from 'avsc';
import fc from 'fast-check';
import { AvroCodec, grownSize } from '../../src/codec/avro-codec';
import type { Kline, SymbolEntry, Trade } from '../../src/codec/records';
import { SchemaCatalogue, compileSchema, type CatalogueEntry } from '../../src/codec/schema-catalogue';
import { HEADER_LENGTH, readSchemaId } from '../../src/codec/wire-format';
import { InMemoryRegistry, caught, caughtAsync, klineArb, sampleKline, sampleSymbol, sampleTrade, symbolEntryArb, tradeArb } from './fixtures';

const catalogue = SchemaCatalogue.load();
const TRADE = catalogue.get('Trade');
const KLINE = catalogue.get('Kline');
const SYMBOL = catalogue.get('SymbolEntry');

interface SchemaJson {
  name: string;
  namespace?: string;
  fields: Array<Record<string, unknown>>;
}

/** A variant of a catalogue schema, e.g. an evolved reader or an older writer. */
function variant(entry: CatalogueEntry, change: (schema: SchemaJson) => void): CatalogueEntry {
  const schema = JSON.parse(entry.text) as SchemaJson;
  change(schema);
  return compileSchema(schema, `${entry.name} variant`);
}

function tradeCodec(id = 7): AvroCodec<Trade> {
  return new AvroCodec<Trade>(TRADE, { schemaId: id });
}

describe('AvroCodec encoding', () => {
  it('writes magic byte, schema id and the plain Avro body', () => {
    const codec = tradeCodec(0x01020304);
    const buf = codec.encode(sampleTrade);
    expect([...buf.subarray(0, HEADER_LENGTH)]).toEqual([0, 1, 2, 3, 4]);
    expect(buf.subarray(HEADER_LENGTH).equals(TRADE.type.toBuffer(sampleTrade))).toBe(true);
    expect(readSchemaId(buf)).toBe(0x01020304);
  });

  it('round-trips every schema field for field (property test, NaN and -0 included)', () => {
    const trades = tradeCodec();
    const klines = new AvroCodec<Kline>(KLINE, { schemaId: 8 });
    const symbols = new AvroCodec<SymbolEntry>(SYMBOL, { schemaId: 9 });
    fc.assert(fc.property(tradeArb, (t) => expect(trades.decode(trades.encode(t))).toEqual(t)), { numRuns: 300 });
    fc.assert(fc.property(klineArb, (k) => expect(klines.decode(klines.encode(k))).toEqual(k)), { numRuns: 300 });
    fc.assert(fc.property(symbolEntryArb, (s) => expect(symbols.decode(symbols.encode(s))).toEqual(s)), { numRuns: 300 });
  });

  it('encode() hands out independent buffers; encodeToScratch() reuses one buffer', () => {
    const codec = tradeCodec();
    const a = codec.encode(sampleTrade);
    const b = codec.encode({ ...sampleTrade, aggId: 1 });
    expect(codec.decode(a).aggId).toBe(sampleTrade.aggId);
    expect(codec.decode(b).aggId).toBe(1);

    const s1 = codec.encodeToScratch(sampleTrade);
    const s2 = codec.encodeToScratch({ ...sampleTrade, aggId: sampleTrade.aggId + 1 });
    expect(s1.buffer).toBe(s2.buffer);
    expect(s1.byteOffset).toBe(s2.byteOffset);
    // The first view now shows the second record: that is the documented contract of the scratch path.
    expect(codec.decode(s1).aggId).toBe(sampleTrade.aggId + 1);
  });

  it('grows the scratch buffer when a record does not fit, then reuses it', () => {
    const codec = new AvroCodec<Kline>(KLINE, { schemaId: 3, initialScratchBytes: 8 });
    expect(codec.scratchCapacity).toBe(8);
    const big: Kline = { ...sampleKline, symbol: 'X'.repeat(1_000) };
    const first = codec.encodeToScratch(big);
    expect(codec.decode(first)).toEqual(big);
    const grown = codec.scratchCapacity;
    expect(grown).toBeGreaterThanOrEqual(first.length);
    expect(codec.decode(codec.encodeToScratch(sampleKline))).toEqual(sampleKline);
    expect(codec.scratchCapacity).toBe(grown);
  });

  it('encodeInto reports the exact shortfall and leaves the buffer untouched before pos', () => {
    const codec = tradeCodec();
    const exact = codec.encode(sampleTrade).length;
    const target = Buffer.alloc(exact + 3, 0xaa);
    expect(codec.encodeInto(sampleTrade, target, 3)).toBe(exact + 3);
    expect([...target.subarray(0, 3)]).toEqual([0xaa, 0xaa, 0xaa]);
    for (const room of [0, 2, HEADER_LENGTH, exact - 1]) {
      const small = Buffer.alloc(3 + room);
      expect([room, codec.encodeInto(sampleTrade, small, 3)]).toEqual([room, room - exact]);
    }
  });

  it('refuses invalid values with CODEC_ENCODE_FAILED naming the fields', () => {
    const codec = tradeCodec(11);
    const bad = { ...sampleTrade, price: 'cheap', symbolIndex: 1.5 } as unknown as Trade;
    const e = caught(() => codec.encode(bad));
    expect(e.code).toBe('CODEC_ENCODE_FAILED');
    expect(e.message).toContain('price');
    expect(e.message).toContain('symbolIndex');
    expect(e.details).toMatchObject({ schema: 'Trade', schemaId: 11, fields: ['symbolIndex', 'price'] });
  });

  it('refuses longs beyond 2^53 instead of losing precision', () => {
    const e = caught(() => tradeCodec().encode({ ...sampleTrade, aggId: 2 ** 60 }));
    expect(e.code).toBe('CODEC_ENCODE_FAILED');
    expect(e.details).toMatchObject({ fields: ['aggId'] });
  });

  it('cannot encode before it knows its schema id', () => {
    const e = caught(() => new AvroCodec<Trade>(TRADE).encode(sampleTrade));
    expect(e.code).toBe('CODEC_ENCODE_FAILED');
    expect(e.message).toMatch(/no schema id/);
  });

  it('grownSize at least doubles and always covers the need', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1 << 20 }), fc.integer({ min: 0, max: 1 << 24 }), (cur, need) => {
      const next = grownSize(cur, need);
      expect(next).toBeGreaterThanOrEqual(need);
      expect(next).toBeGreaterThanOrEqual(cur * 2);
    }));
  });
});

describe('AvroCodec decoding errors', () => {
  const codec = tradeCodec(7);
  const good = codec.encode(sampleTrade);

  it('reports every cut inside the body as CODEC_TRUNCATED with id and length', () => {
    for (let len = HEADER_LENGTH; len < good.length; len++) {
      const e = caught(() => codec.decode(good.subarray(0, len)));
      expect([len, e.code]).toEqual([len, 'CODEC_TRUNCATED']);
      expect(e.details).toEqual({ schemaId: 7, byteLength: len });
    }
  });

  it('reports a cut inside the header as CODEC_TRUNCATED', () => {
    expect(caught(() => codec.decode(good.subarray(0, 4))).code).toBe('CODEC_TRUNCATED');
    expect(caught(() => codec.decode(Buffer.alloc(0))).code).toBe('CODEC_TRUNCATED');
  });

  it('reports trailing bytes as CODEC_DECODE_FAILED', () => {
    const e = caught(() => codec.decode(Buffer.concat([good, Buffer.from([1, 2, 3])])));
    expect(e.code).toBe('CODEC_DECODE_FAILED');
    expect(e.details).toEqual({ schemaId: 7, byteLength: good.length + 3, trailingBytes: 3 });
    expect(e.message).toMatch(/3 trailing byte/);
  });

  it('reports invalid Avro (an enum index out of range, an over-long varint) as CODEC_DECODE_FAILED', () => {
    const badEnum = Buffer.from(good);
    badEnum[HEADER_LENGTH] = 0x0a; // zigzag 5: TradeKind has two symbols
    const e1 = caught(() => codec.decode(badEnum));
    expect(e1.code).toBe('CODEC_DECODE_FAILED');
    expect(e1.message).toMatch(/enum index/);
    expect(e1.details).toMatchObject({ schemaId: 7, byteLength: good.length });

    // kind TRADE, symbolIndex 0, then an aggId varint far beyond 2^53.
    const hugeLong = Buffer.concat([good.subarray(0, HEADER_LENGTH), Buffer.from([0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])]);
    expect(caught(() => codec.decode(hugeLong)).code).toBe('CODEC_DECODE_FAILED');
  });

  it('reports a bad magic byte as CODEC_BAD_MAGIC', () => {
    const bad = Buffer.from(good);
    bad[0] = 1;
    expect(caught(() => codec.decode(bad)).code).toBe('CODEC_BAD_MAGIC');
  });

  it('reports an id it has not loaded as CODEC_UNKNOWN_SCHEMA, synchronously', () => {
    const other = tradeCodec(8).encode(sampleTrade);
    const e = caught(() => codec.decode(other));
    expect(e.code).toBe('CODEC_UNKNOWN_SCHEMA');
    expect(e.details).toEqual({ schemaId: 8, byteLength: other.length });
  });

  it('garbage of any shape never escapes as anything but a codec error', () => {
    const codes = new Set(['CODEC_TRUNCATED', 'CODEC_BAD_MAGIC', 'CODEC_UNKNOWN_SCHEMA', 'CODEC_DECODE_FAILED']);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (bytes, withHeader) => {
      const buf = withHeader ? Buffer.concat([good.subarray(0, HEADER_LENGTH), bytes]) : Buffer.from(bytes);
      try {
        const value = codec.decode(buf);
        // Some garbage is a valid Trade; then it must be a well-formed one.
        expect(TRADE.type.isValid(value)).toBe(true);
      } catch (e) {
        expect(codes.has((e as { code?: string }).code ?? '')).toBe(true);
      }
    }), { numRuns: 500 });
  });
});

describe('AvroCodec writer schemas', () => {
  it('decodeAsync fetches an unseen id once, however many records arrive at the same time', async () => {
    const registry = new InMemoryRegistry();
    const id = registry.add(TRADE.text);
    const writer = new AvroCodec<Trade>(TRADE, { schemaId: id });
    const reader = new AvroCodec<Trade>(TRADE, { registry });
    expect(reader.hasSchema(id)).toBe(false);
    const records = Array.from({ length: 20 }, (_, i) => writer.encode({ ...sampleTrade, aggId: i }));
    const decoded = await Promise.all(records.map((r) => reader.decodeAsync(r)));
    expect(decoded.map((t) => t.aggId)).toEqual(records.map((_, i) => i));
    expect(registry.fetches.get(id)).toBe(1);
    expect(reader.hasSchema(id)).toBe(true);
    // Known now: the synchronous path works and does not fetch again.
    expect(reader.decode(records[3]!).aggId).toBe(3);
    expect(registry.fetches.get(id)).toBe(1);
  });

  it('remembers ids the registry does not know for a while, then asks again', async () => {
    const registry = new InMemoryRegistry();
    let now = 1_000;
    const reader = new AvroCodec<Trade>(TRADE, { registry, unknownIdRetryMs: 500, now: () => now });
    const record = tradeCodec(42).encode(sampleTrade);

    const e = await caughtAsync(reader.decodeAsync(record));
    expect(e.code).toBe('CODEC_UNKNOWN_SCHEMA');
    expect(e.details).toEqual({ schemaId: 42, byteLength: record.length });
    expect((await caughtAsync(reader.prepare(42))).code).toBe('CODEC_UNKNOWN_SCHEMA');
    expect(registry.fetches.get(42)).toBe(1);

    now += 500;
    registry.schemas.set(42, TRADE.text);
    await expect(reader.decodeAsync(record)).resolves.toEqual(sampleTrade);
    expect(registry.fetches.get(42)).toBe(2);
  });

  it('without a registry an unseen id is CODEC_UNKNOWN_SCHEMA', async () => {
    const e = await caughtAsync(new AvroCodec<Trade>(TRADE).prepare(5));
    expect(e.code).toBe('CODEC_UNKNOWN_SCHEMA');
    expect(e.message).toMatch(/no schema registry/);
  });

  it('passes registry failures through unchanged (they are not the record\'s fault)', async () => {
    const failing = {
      register: async () => 1,
      fetchSchema: async () => {
        throw Object.assign(new Error('down'), { code: 'SCHEMA_REGISTRY' });
      },
    };
    const reader = new AvroCodec<Trade>(TRADE, { registry: failing });
    await expect(reader.decodeAsync(tradeCodec(1).encode(sampleTrade))).rejects.toThrow('down');
  });

  it('reads records of an older writer schema with a newer, backward-compatible reader', () => {
    const registry = new InMemoryRegistry();
    const v1Id = registry.add(TRADE.text);
    const v2 = variant(TRADE, (s) => s.fields.push({ name: 'venue', type: 'string', default: 'binance-futures' }));
    const oldWriter = new AvroCodec<Trade>(TRADE, { schemaId: v1Id });
    const newReader = new AvroCodec<Trade & { venue: string }>(v2, { schemaId: 99 });
    newReader.addWriterSchema(v1Id, TRADE.text);
    expect(newReader.decode(oldWriter.encode(sampleTrade))).toEqual({ ...sampleTrade, venue: 'binance-futures' });
    // And its own records in the same stream, alternating ids (last-id fast path must switch correctly).
    const own = newReader.encode({ ...sampleTrade, venue: 'x' });
    const old = oldWriter.encode(sampleTrade);
    for (let i = 0; i < 3; i++) {
      expect(newReader.decode(own).venue).toBe('x');
      expect(newReader.decode(old).venue).toBe('binance-futures');
    }
  });

  it('fills SymbolEntry defaults for entries written before the extras existed', () => {
    const v0 = variant(SYMBOL, (s) => {
      s.fields = s.fields.filter((f) => f.name === 'symbol' || f.name === 'index');
    });
    const oldWriter = new AvroCodec<Pick<SymbolEntry, 'symbol' | 'index'>>(v0, { schemaId: 1 });
    const reader = new AvroCodec<SymbolEntry>(SYMBOL, { schemaId: 2 });
    reader.addWriterSchema(1, v0.type);
    expect(reader.decode(oldWriter.encode({ symbol: 'BTCUSDT', index: 0 }))).toEqual({ ...sampleSymbol, symbol: 'BTCUSDT', index: 0, baseAsset: '', quoteAsset: '', pricePrecision: -1, quantityPrecision: -1, partition: -1 });
  });

  it('maps a future TradeKind symbol to TRADE through the enum default', () => {
    const future = variant(TRADE, (s) => {
      const kind = s.fields[0]!.type as { symbols: string[] };
      kind.symbols = [...kind.symbols, 'HEARTBEAT'];
    });
    const writer = new AvroCodec<Omit<Trade, 'kind'> & { kind: string }>(future, { schemaId: 1 });
    const reader = new AvroCodec<Trade>(TRADE);
    reader.addWriterSchema(1, future.type);
    expect(reader.decode(writer.encode({ ...sampleTrade, kind: 'HEARTBEAT' })).kind).toBe('TRADE');
    expect(reader.decode(writer.encode({ ...sampleTrade, kind: 'WATERMARK' })).kind).toBe('WATERMARK');
  });

  it('fails the records of a writer schema that cannot be read as the reader, every time, with both names', () => {
    const klineWriter = new AvroCodec<Kline>(KLINE, { schemaId: 5 });
    const reader = new AvroCodec<Trade>(TRADE);
    reader.addWriterSchema(5, KLINE.text);
    const record = klineWriter.encode(sampleKline);
    for (let i = 0; i < 2; i++) {
      const e = caught(() => reader.decode(record));
      expect(e.code).toBe('CODEC_DECODE_FAILED');
      expect(e.message).toMatch(/io\.klinestream\.Kline.*cannot be read as io\.klinestream\.Trade/);
      expect(e.details).toEqual({ schemaId: 5, byteLength: record.length });
    }
  });

  it('treats a writer schema that does not compile as unreadable rather than crashing', () => {
    const reader = new AvroCodec<Trade>(TRADE);
    reader.addWriterSchema(6, '{"type":"record","name":"Broken","fields":[{"name":"a","type":"nope"}]}');
    const record = Buffer.from([0, 0, 0, 0, 6, 0]);
    const e = caught(() => reader.decode(record));
    expect(e.code).toBe('CODEC_DECODE_FAILED');
    expect(e.message).toMatch(/does not compile/);
  });

  it('knows its own schema id without a registry', () => {
    const codec = tradeCodec(123);
    expect(codec.schemaId).toBe(123);
    expect(codec.hasSchema(123)).toBe(true);
    expect(codec.readerType).toBe(TRADE.type);
    expect(avro.Type.isType(codec.readerType, 'record')).toBe(true);
  });

  it('uses all 32 bits of the id: ids that share low bits are different schemas', () => {
    const codec = tradeCodec(0x12345678);
    expect(codec.decode(codec.encode(sampleTrade))).toEqual(sampleTrade);
    const e = caught(() => codec.decode(tradeCodec(0x5678).encode(sampleTrade)));
    expect(e.details).toMatchObject({ schemaId: 0x5678 });
  });

  it('rejects ids that do not fit the 4-byte header', () => {
    expect(caught(() => tradeCodec(2 ** 31)).code).toBe('CODEC_UNKNOWN_SCHEMA');
    expect(caught(() => tradeCodec(1.5)).code).toBe('CODEC_UNKNOWN_SCHEMA');
  });
});
