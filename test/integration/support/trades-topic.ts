/**
 * Reading back what a producer wrote, independently of the producer's code: a plain kafkajs consumer
 * (read_committed, kafkajs' default) in a group of its own reads `trades` and `symbols` from the beginning to
 * the end offsets of the moment; values are decoded with AvroCodec, learning writer schemas from the
 * registry by id, as any consumer would. Keys are checked as they are documented: 4-byte big-endian symbol
 * index for trades, none for watermarks.
 *
 * `checkTrades` compares the topic with the stand-in's truth (its expectedRecords()): per symbol exactly
 * the expected aggregate ids, each once, in id order, all on the partition its SymbolEntry names, every
 * field equal to the exchange's values.
 */
import type { Kafka, KafkaMessage } from 'kafkajs';
import type { AvroCodec } from '../../../src/codec/avro-codec';
import { SchemaCatalogue } from '../../../src/codec/schema-catalogue';
import { RegistryClient } from '../../../src/codec/schema-registry';
import { valueDecoder } from '../../../src/codec/topic-codecs';
import type { SymbolEntry, Trade } from '../../../src/codec/records';
import type { StandinTrade } from '../../support/exchange-standin';
import { testConnection, testKafka, uniqueName } from '../helpers';

export interface RawRecord {
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
}

/** Every committed record of `topic`, per partition in offset order, up to the end offsets as they are now. */
export async function readTopic(topic: string, kafka: Kafka = testKafka(), timeoutMs = 60_000): Promise<RawRecord[][]> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Array<{ partition: number; high: string; low: string }>;
  try {
    ends = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const out: RawRecord[][] = ends.map(() => []);
  const remaining = new Map(ends.filter((e) => Number(e.high) > Number(e.low)).map((e) => [e.partition, Number(e.high)]));
  if (remaining.size === 0) return out;
  const groupId = uniqueName('read-back');
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, maxBytes: 64 << 20 });
  const position = new Map<number, number>();
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const behind = [...remaining].map(([p, end]) => `${p}: ${position.get(p) ?? 0}/${end}`).join(', ');
        reject(new Error(`reading ${topic} did not reach its end within ${timeoutMs} ms (${behind})`));
      }, timeoutMs);
      const advance = (p: number, next: number) => {
        position.set(p, Math.max(position.get(p) ?? 0, next));
        if (next >= (remaining.get(p) ?? Infinity)) remaining.delete(p);
        if (remaining.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      };
      // Batches of control records only (transaction markers) advance the position through this event.
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => advance(e.payload.partition, Number(e.payload.lastOffset) + 1));
      consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages as KafkaMessage[]) {
            out[batch.partition]!.push({ partition: batch.partition, offset: Number(m.offset), key: m.key, value: m.value });
          }
          if (batch.messages.length > 0) advance(batch.partition, Number(batch.lastOffset()) + 1);
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
    const a = kafka.admin();
    await a.connect();
    await a.deleteGroups([groupId]).catch(() => undefined);
    await a.disconnect();
  }
  // A fetch may repeat records around a rebalance: keep each offset once.
  return out.map((list) => {
    const seen = new Set<number>();
    return list.filter((r) => (seen.has(r.offset) ? false : (seen.add(r.offset), true))).sort((a, b) => a.offset - b.offset);
  });
}

export interface TradeRecord extends Trade {
  partition: number;
  offset: number;
  /** The key as an int32 (trades), or null (watermarks). */
  key: number | null;
}

let tradeDecoder: AvroCodec<Trade> | undefined;
let symbolDecoder: AvroCodec<SymbolEntry> | undefined;

function decoders() {
  if (tradeDecoder === undefined || symbolDecoder === undefined) {
    const catalogue = SchemaCatalogue.load();
    const registry = new RegistryClient({ url: testConnection().schemaRegistryUrl });
    tradeDecoder = valueDecoder(registry, catalogue, 'Trade');
    symbolDecoder = valueDecoder(registry, catalogue, 'SymbolEntry');
  }
  return { trade: tradeDecoder, symbol: symbolDecoder };
}

/** `<prefix>trades`, decoded, per partition in offset order. */
export async function readTrades(prefix: string, kafka?: Kafka): Promise<TradeRecord[][]> {
  const raw = await readTopic(`${prefix}trades`, kafka);
  const { trade } = decoders();
  const out: TradeRecord[][] = [];
  for (const list of raw) {
    const decoded: TradeRecord[] = [];
    for (const r of list) {
      if (r.value === null) throw new Error(`trades ${r.partition}@${r.offset}: null value`);
      const t = await trade.decodeAsync(r.value);
      if (r.key !== null && r.key.length !== 4) throw new Error(`trades ${r.partition}@${r.offset}: key of ${r.key.length} bytes, expected 4`);
      decoded.push({ ...t, partition: r.partition, offset: r.offset, key: r.key === null ? null : r.key.readInt32BE(0) });
    }
    out.push(decoded);
  }
  return out;
}

/** `<prefix>symbols`: the latest entry per symbol name (and every entry, to check indexes are never reused). */
export async function readSymbols(prefix: string, kafka?: Kafka): Promise<{ byName: Map<string, SymbolEntry>; byIndex: Map<number, SymbolEntry>; all: SymbolEntry[] }> {
  const raw = await readTopic(`${prefix}symbols`, kafka);
  const { symbol } = decoders();
  const all: SymbolEntry[] = [];
  const byName = new Map<string, SymbolEntry>();
  for (const r of raw.flat()) {
    if (r.value === null) continue;
    const e = await symbol.decodeAsync(r.value);
    if (r.key?.toString('utf8') !== e.symbol) throw new Error(`symbols @${r.offset}: key ${String(r.key)} is not the entry's symbol ${e.symbol}`);
    all.push(e);
    byName.set(e.symbol, e);
  }
  const byIndex = new Map<number, SymbolEntry>();
  for (const e of byName.values()) {
    const other = byIndex.get(e.index);
    if (other !== undefined) throw new Error(`index ${e.index} names both ${other.symbol} and ${e.symbol}`);
    byIndex.set(e.index, e);
  }
  return { byName, byIndex, all };
}

export interface TopicContent {
  trades: TradeRecord[][];
  symbols: Awaited<ReturnType<typeof readSymbols>>;
  /** Per symbol name, its trade records in topic order. */
  bySymbol: Map<string, TradeRecord[]>;
  watermarks: TradeRecord[][];
}

export async function readContent(prefix: string, kafka?: Kafka): Promise<TopicContent> {
  const [trades, symbols] = await Promise.all([readTrades(prefix, kafka), readSymbols(prefix, kafka)]);
  const bySymbol = new Map<string, TradeRecord[]>();
  const watermarks: TradeRecord[][] = trades.map(() => []);
  for (const list of trades) {
    for (const t of list) {
      if (t.kind === 'WATERMARK') {
        watermarks[t.partition]!.push(t);
        continue;
      }
      const e = symbols.byIndex.get(t.symbolIndex);
      if (e === undefined) throw new Error(`trades ${t.partition}@${t.offset}: symbol index ${t.symbolIndex} has no SymbolEntry`);
      let l = bySymbol.get(e.symbol);
      if (l === undefined) bySymbol.set(e.symbol, (l = []));
      l.push(t);
    }
  }
  return { trades, symbols, bySymbol, watermarks };
}

/** Expected records per symbol (the stand-in's expectedRecords()) as plain objects. */
export type Expected = Map<string, readonly StandinTrade[]>;

export interface CheckOptions {
  /**
   * eventTime: 'exact' = the frame's E; 'E-or-T' (default) = E, or T for a trade that came through a REST
   * backfill (REST has no event time; the producer writes the trade time instead).
   */
  eventTime?: 'exact' | 'E-or-T';
}

/**
 * Per symbol: exactly the expected ids, each once, in id order, all on the partition its entry names, with
 * the exchange's values. Returns a list of problems (empty = all good), so a failure shows all of them.
 */
export function checkTrades(content: TopicContent, expected: Expected, options: CheckOptions = {}): string[] {
  const problems: string[] = [];
  const eventTimeMode = options.eventTime ?? 'E-or-T';
  for (const name of content.bySymbol.keys()) if (!expected.has(name)) problems.push(`${name}: in the topic but not expected`);
  for (const [name, want] of expected) {
    const got = content.bySymbol.get(name) ?? [];
    const entry = content.symbols.byName.get(name);
    if (entry === undefined) {
      problems.push(`${name}: no SymbolEntry`);
      continue;
    }
    const wrongPartition = got.filter((t) => t.partition !== entry.partition);
    if (wrongPartition.length > 0) problems.push(`${name}: ${wrongPartition.length} trades not on its partition ${entry.partition} (e.g. ${wrongPartition[0]!.aggId} on ${wrongPartition[0]!.partition})`);
    const wrongKey = got.filter((t) => t.key !== entry.index || t.symbolIndex !== entry.index);
    if (wrongKey.length > 0) problems.push(`${name}: ${wrongKey.length} trades whose key or symbolIndex is not ${entry.index}`);
    const ids = got.map((t) => t.aggId);
    const wantIds = want.map((t) => t.aggId);
    if (ids.length !== wantIds.length || ids.some((a, i) => a !== wantIds[i])) {
      const have = new Set(ids);
      const missing = wantIds.filter((a) => !have.has(a));
      const counts = new Map<number, number>();
      for (const a of ids) counts.set(a, (counts.get(a) ?? 0) + 1);
      const doubled = [...counts].filter(([, n]) => n > 1).map(([a]) => a);
      const where = doubled.slice(0, 3).map((a) => `${a} at ${got.filter((t) => t.aggId === a).map((t) => `${t.partition}@${t.offset} (E ${t.eventTime}, T ${t.tradeTime})`).join(' and ')}`);
      const wantSet = new Set(wantIds);
      const extra = ids.filter((a) => !wantSet.has(a));
      const disorder = ids.findIndex((a, i) => i > 0 && a <= ids[i - 1]!);
      problems.push(
        `${name}: ${ids.length} trades, expected ${wantIds.length}; missing ${missing.length} (${summarize(missing)}), ` +
          `doubled ${doubled.length} (${summarize(doubled)}), unexpected ${extra.length} (${summarize(extra)})` +
          (disorder > 0 ? `, out of order at ${ids[disorder - 1]} -> ${ids[disorder]}` : '') +
          (where.length > 0 ? `; doubled ${where.join(', ')}` : ''),
      );
      continue;
    }
    let fieldProblems = 0;
    for (let i = 0; i < want.length; i++) {
      const w = want[i]!;
      const g = got[i]!;
      const diffs: string[] = [];
      if (g.kind !== 'TRADE') diffs.push(`kind ${g.kind}`);
      if (g.firstTradeId !== w.firstTradeId) diffs.push(`firstTradeId ${g.firstTradeId} != ${w.firstTradeId}`);
      if (g.lastTradeId !== w.lastTradeId) diffs.push(`lastTradeId ${g.lastTradeId} != ${w.lastTradeId}`);
      if (g.price !== Number(w.price)) diffs.push(`price ${g.price} != ${w.price}`);
      if (g.quantity !== Number(w.quantity)) diffs.push(`quantity ${g.quantity} != ${w.quantity}`);
      if (g.tradeTime !== w.tradeTime) diffs.push(`tradeTime ${g.tradeTime} != ${w.tradeTime}`);
      if (g.isBuyerMaker !== w.isBuyerMaker) diffs.push(`isBuyerMaker ${g.isBuyerMaker} != ${w.isBuyerMaker}`);
      if (g.targetPartition !== -1) diffs.push(`targetPartition ${g.targetPartition}`);
      const eventOk = g.eventTime === w.eventTime || (eventTimeMode === 'E-or-T' && g.eventTime === w.tradeTime);
      if (!eventOk) diffs.push(`eventTime ${g.eventTime} != ${w.eventTime}${eventTimeMode === 'E-or-T' ? ` (or T ${w.tradeTime})` : ''}`);
      if (diffs.length > 0 && fieldProblems++ < 5) problems.push(`${name} ${w.aggId}: ${diffs.join(', ')}`);
    }
    if (fieldProblems > 5) problems.push(`${name}: ${fieldProblems - 5} more trades with wrong fields`);
  }
  return problems;
}

function summarize(ids: number[]): string {
  if (ids.length === 0) return '-';
  return ids.length <= 6 ? ids.join(',') : `${ids.slice(0, 3).join(',')} ... ${ids.slice(-2).join(',')}`;
}

/** Every watermark record is well-formed (key null, symbolIndex/ids -1, no price); per partition in order. */
export function checkWatermarkShape(content: TopicContent): string[] {
  const problems: string[] = [];
  for (const list of content.watermarks) {
    for (const w of list) {
      if (w.key !== null || w.symbolIndex !== -1 || w.aggId !== -1 || w.firstTradeId !== -1 || w.lastTradeId !== -1 || w.price !== 0 || w.quantity !== 0) {
        problems.push(`watermark ${w.partition}@${w.offset} is not shaped as documented: ${JSON.stringify(w)}`);
      }
    }
  }
  return problems;
}

/** The end offset (high watermark) of every partition of `topic` now. */
export async function endOffsets(topic: string, kafka: Kafka = testKafka()): Promise<number[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const out: number[] = [];
    for (const o of offsets) out[o.partition] = Number(o.high);
    return out;
  } finally {
    await admin.disconnect();
  }
}

/**
 * The producer's checkpoints (`<prefix>producer-state`: per symbol the last aggregate id committed to trades,
 * 16 bytes: big-endian doubles aggId, trade time), read from the beginning; the owner record is skipped.
 */
export async function readCheckpoints(prefix: string, kafka?: Kafka): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const r of (await readTopic(`${prefix}producer-state`, kafka)).flat()) {
    const key = r.key?.toString('utf8') ?? '';
    if (key.startsWith('\u0000') || r.value === null || r.value.length !== 16) continue;
    out.set(key, r.value.readDoubleBE(0));
  }
  return out;
}

/** Polls the checkpoints until every expected symbol's last id is committed (true), or `timeoutMs` passed (false). */
export async function waitForCheckpoints(prefix: string, expected: Map<string, readonly StandinTrade[]>, timeoutMs: number, kafka?: Kafka): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = await readCheckpoints(prefix, kafka);
    if ([...expected].every(([s, list]) => c.get(s) === list[list.length - 1]!.aggId)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 500));
  }
}
