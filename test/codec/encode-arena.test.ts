import { AvroCodec } from '../../src/codec/avro-codec';
import { EncodeArena } from '../../src/codec/encode-arena';
import type { Kline, Trade } from '../../src/codec/records';
import { SchemaCatalogue } from '../../src/codec/schema-catalogue';
import { caught, sampleKline, sampleTrade } from './fixtures';

const catalogue = SchemaCatalogue.load();
const trades = new AvroCodec<Trade>(catalogue.get('Trade'), { schemaId: 1 });
const klines = new AvroCodec<Kline>(catalogue.get('Kline'), { schemaId: 2 });

/** [start, end) of a view in its ArrayBuffer. */
function span(b: Buffer): [ArrayBufferLike, number, number] {
  return [b.buffer, b.byteOffset, b.byteOffset + b.length];
}

function assertDisjoint(views: Buffer[]): void {
  const spans = views.map(span);
  for (let i = 0; i < spans.length; i++) {
    for (let j = i + 1; j < spans.length; j++) {
      const [bi, si, ei] = spans[i]!;
      const [bj, sj, ej] = spans[j]!;
      if (bi === bj && si < ej && sj < ei) throw new Error(`views ${i} [${si},${ei}) and ${j} [${sj},${ej}) overlap`);
    }
  }
}

describe('EncodeArena', () => {
  it('packs records back to back into one buffer, each view exactly one record', () => {
    const arena = new EncodeArena(64 * 1024);
    const views = Array.from({ length: 100 }, (_, i) => arena.encode(trades, { ...sampleTrade, aggId: i }));
    assertDisjoint(views);
    expect(new Set(views.map((v) => v.buffer)).size).toBe(1);
    expect(views[1]!.byteOffset).toBe(views[0]!.byteOffset + views[0]!.length);
    expect(arena.bytesUsed).toBe(views.reduce((n, v) => n + v.length, 0));
    expect(arena.records).toBe(100);
    expect(views.map((v) => trades.decode(v).aggId)).toEqual(views.map((_, i) => i));
  });

  it('mixes codecs in one batch', () => {
    const arena = new EncodeArena(1024);
    const t = arena.encode(trades, sampleTrade);
    const k = arena.encode(klines, sampleKline);
    assertDisjoint([t, k]);
    expect(trades.decode(t)).toEqual(sampleTrade);
    expect(klines.decode(k)).toEqual(sampleKline);
  });

  it('grows into a new chunk when full, and views handed out before stay intact', () => {
    const arena = new EncodeArena(64);
    const views: Buffer[] = [];
    for (let i = 0; i < 50; i++) views.push(arena.encode(klines, { ...sampleKline, symbol: `S${i}`.padEnd(i * 3, 'x'), version: i }));
    expect(arena.chunks).toBeGreaterThan(1);
    expect(arena.capacity).toBeGreaterThan(64);
    assertDisjoint(views);
    // Decode only after all encodes: growth must not have moved or overwritten earlier records.
    expect(views.map((v) => klines.decode(v).version)).toEqual(views.map((_, i) => i));
  });

  it('reuses its buffer after reset: no allocation per batch once warmed up', () => {
    const arena = new EncodeArena(256);
    for (let i = 0; i < 40; i++) arena.encode(trades, sampleTrade);
    const warmCapacity = arena.capacity;
    arena.reset();
    expect([arena.bytesUsed, arena.records, arena.chunks]).toEqual([0, 0, 1]);

    const batch = Array.from({ length: 40 }, (_, i) => arena.encode(trades, { ...sampleTrade, aggId: i }));
    expect(arena.capacity).toBe(warmCapacity);
    expect(arena.chunks).toBe(1);
    expect(new Set(batch.map((v) => v.buffer)).size).toBe(1);
    expect(batch[0]!.byteOffset).toBe(0);
    expect(trades.decode(batch[39]!).aggId).toBe(39);
  });

  it('a record larger than the whole arena still fits after one growth', () => {
    const arena = new EncodeArena(16);
    const big = { ...sampleKline, symbol: 'Y'.repeat(10_000) };
    const view = arena.encode(klines, big);
    expect(klines.decode(view)).toEqual(big);
    expect(arena.capacity).toBeGreaterThanOrEqual(view.length);
  });

  it('leaves the arena consistent when a value is invalid', () => {
    const arena = new EncodeArena(1024);
    const ok = arena.encode(trades, sampleTrade);
    const used = arena.bytesUsed;
    expect(caught(() => arena.encode(trades, { ...sampleTrade, price: Number.NaN, quantity: 'x' } as unknown as Trade)).code).toBe('CODEC_ENCODE_FAILED');
    expect(arena.bytesUsed).toBe(used);
    const next = arena.encode(trades, { ...sampleTrade, aggId: 5 });
    assertDisjoint([ok, next]);
    expect(trades.decode(ok)).toEqual(sampleTrade);
    expect(trades.decode(next).aggId).toBe(5);
  });

  it('rejects a nonsensical size', () => {
    expect(caught(() => new EncodeArena(0)).code).toBe('CODEC_ENCODE_FAILED');
  });
});
