/**
 * `klinestream klines` and KlineConsumer against the real broker and schema registry. Kline records are
 * written the way workers write them (key = symbol, Avro with the registered schema), including what a
 * worker crash leaves behind: repeated records, republished older versions, finals published twice; plus
 * records that are not Klines, and transactional records (one transaction committed, one aborted). Every
 * test uses its own topic prefix, so topics, subjects and groups are unique; all are deleted afterwards.
 */
import { spawn } from 'node:child_process';
import { Partitioners, type Admin, type Kafka, type Producer } from 'kafkajs';
import type { AvroCodec } from '../../src/codec/avro-codec';
import type { Kline } from '../../src/codec/records';
import { SchemaCatalogue } from '../../src/codec/schema-catalogue';
import { RegistryClient } from '../../src/codec/schema-registry';
import { registerValueCodec } from '../../src/codec/topic-codecs';
import { KlineConsumer, type KlineConsumerOptions } from '../../src/downstream/kline-consumer';
import { KLINE_CSV_HEADER, klineRecordCsvRow } from '../../src/downstream/kline-csv';
import { KafkaResources, builtCli, expectSuccess, runCli, testConnection, testKafka, testLogger, uniqueName } from './helpers';

jest.setTimeout(300_000);

const catalogue = SchemaCatalogue.load();
const BASE = 1_717_200_000_000; // 2024-06-01T00:00:00Z
const INTERVAL_MS: Record<string, number> = { '1m': 60_000, '5m': 300_000 };

/** A kline whose values follow from (symbol, interval, index, version): different versions differ. */
function kline(symbol: string, interval: string, i: number, version: number, isFinal: boolean): Kline {
  const ms = INTERVAL_MS[interval]!;
  const trades = isFinal ? version - 1 : version;
  const seed = symbol.charCodeAt(0) + i * 7;
  const open = 100 + seed / 4;
  return {
    symbol, interval, openTime: BASE + i * ms, closeTime: BASE + (i + 1) * ms - 1,
    open, high: open + trades * 0.5, low: open - trades * 0.25, close: open + trades * 0.125,
    volume: trades * 1.5, quoteVolume: trades * 1.5 * open, tradeCount: trades * 2,
    takerBuyVolume: trades * 0.5, takerBuyQuoteVolume: trades * 0.5 * open,
    firstTradeId: trades === 0 ? -1 : 1000 * i + 1, lastTradeId: trades === 0 ? -1 : 1000 * i + trades * 2,
    isFinal, version,
  };
}

const live = (s: string, iv: string, i: number, v: number): Kline => kline(s, iv, i, v, false);
const fin = (s: string, iv: string, i: number, v: number): Kline => kline(s, iv, i, v, true);

/**
 * What workers published, per symbol in publication order (one symbol is one partition). BTCUSDT sees a
 * worker crash: its state is restored from before the first final, so K0's versions (one never seen before,
 * but older than one seen), K0's final and K1's versions are published again.
 */
const BTC: Kline[] = [
  live('BTCUSDT', '1m', 0, 1), live('BTCUSDT', '1m', 0, 3), live('BTCUSDT', '5m', 0, 1),
  live('BTCUSDT', '1m', 0, 3), // producer retry: the same record twice
  fin('BTCUSDT', '1m', 0, 5), live('BTCUSDT', '1m', 1, 2), live('BTCUSDT', '5m', 0, 3),
  // crash: republished from an older restored state
  live('BTCUSDT', '1m', 0, 2), fin('BTCUSDT', '1m', 0, 5), live('BTCUSDT', '1m', 1, 1), live('BTCUSDT', '1m', 1, 2), live('BTCUSDT', '5m', 0, 2),
  // and on
  live('BTCUSDT', '1m', 1, 4), fin('BTCUSDT', '1m', 1, 6), live('BTCUSDT', '1m', 2, 1), live('BTCUSDT', '5m', 0, 5),
];
/** ETHUSDT: an interval without trades (version 0 live, 1 final), a final republished later. */
const ETH: Kline[] = [
  live('ETHUSDT', '1m', 0, 1), fin('ETHUSDT', '1m', 0, 2), live('ETHUSDT', '1m', 1, 0), fin('ETHUSDT', '1m', 1, 1),
  live('ETHUSDT', '5m', 0, 2), fin('ETHUSDT', '5m', 0, 3), live('ETHUSDT', '1m', 2, 2), fin('ETHUSDT', '1m', 1, 1), fin('ETHUSDT', '1m', 2, 3),
];
/** SOLUSDT: written by a transactional writer; the first transaction commits, the second aborts. */
const SOL_COMMITTED: Kline[] = [live('SOLUSDT', '1m', 0, 1), fin('SOLUSDT', '1m', 0, 2), live('SOLUSDT', '1m', 1, 1)];
const SOL_ABORTED: Kline[] = [fin('SOLUSDT', '1m', 1, 9), live('SOLUSDT', '1m', 2, 1)];

/** The reference: a version above the highest one seen for (symbol, interval, openTime). */
function deduped(records: Kline[]): Kline[] {
  const max = new Map<string, number>();
  return records.filter((k) => {
    const key = `${k.symbol}|${k.interval}|${k.openTime}`;
    if ((max.get(key) ?? -1) >= k.version) return false;
    max.set(key, k.version);
    return true;
  });
}

const VISIBLE = [...BTC, ...ETH, ...SOL_COMMITTED];
/** Final klines, one per kline, in order per symbol: what `--final` prints. */
const FINALS: Kline[] = [
  fin('BTCUSDT', '1m', 0, 5), fin('BTCUSDT', '1m', 1, 6),
  fin('ETHUSDT', '1m', 0, 2), fin('ETHUSDT', '1m', 1, 1), fin('ETHUSDT', '5m', 0, 3), fin('ETHUSDT', '1m', 2, 3),
  fin('SOLUSDT', '1m', 0, 2),
];

/**
 * Output lines of several partitions interleave in no particular order; within a symbol (one partition) the
 * order is the topic's. So: the same lines, and per symbol the same sequence.
 */
function expectSameLinesPerSymbol(actual: string[], expected: string[]): void {
  expect([...actual].sort()).toEqual([...expected].sort());
  const bySymbol = (lines: string[]) => {
    const m = new Map<string, string[]>();
    for (const l of lines) {
      const s = l.startsWith('{') ? (JSON.parse(l) as Kline).symbol : l.slice(0, l.indexOf(','));
      m.set(s, [...(m.get(s) ?? []), l]);
    }
    return m;
  };
  expect(bySymbol(actual)).toEqual(bySymbol(expected));
}

function csvLines(stdout: string): string[] {
  const lines = stdout.split('\n');
  expect(lines[0]).toBe(KLINE_CSV_HEADER);
  expect(lines[lines.length - 1]).toBe('');
  return lines.slice(1, -1);
}

function jsonLines(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l !== '');
}

const csv = (ks: Kline[]): string[] => ks.map(klineRecordCsvRow);
const json = (ks: Kline[]): string[] => ks.map((k) => JSON.stringify(k));
const only = (ks: Kline[], symbols: string[], intervals?: string[]) =>
  ks.filter((k) => symbols.includes(k.symbol) && (intervals === undefined || intervals.includes(k.interval)));

describe('klines: reading the klines topic', () => {
  let kafka: Kafka;
  let resources: KafkaResources;
  let admin: Admin;
  let producer: Producer;
  let registry: RegistryClient;
  const prefixes: string[] = [];

  /** A fresh application prefix with its klines topic and registered Kline schema. */
  async function newApp(partitions: number): Promise<{ prefix: string; topic: string; codec: AvroCodec<Kline> }> {
    const prefix = `${uniqueName('klt')}.`;
    const topic = `${prefix}klines`;
    prefixes.push(prefix);
    resources.trackTopic(topic);
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
    const codec = await registerValueCodec(registry, catalogue, topic, 'Kline');
    return { prefix, topic, codec };
  }

  async function send(topic: string, codec: AvroCodec<Kline>, klines: Kline[]): Promise<void> {
    await producer.send({ topic, acks: -1, messages: klines.map((k) => ({ key: k.symbol, value: codec.encode(k) })) });
  }

  function consumerOptions(prefix: string, extra: Partial<KlineConsumerOptions> = {}): KlineConsumerOptions {
    const c = testConnection();
    return { brokers: c.brokers, schemaRegistryUrl: c.schemaRegistryUrl, topicPrefix: prefix, maxWaitTimeInMs: 200, ...extra };
  }

  async function collect(consumer: KlineConsumer, mode: 'readToEnd'): Promise<Kline[]> {
    const out: Kline[] = [];
    await consumer[mode]((k) => {
      out.push(k);
    });
    return out;
  }

  async function committed(groupId: string, topic: string): Promise<Record<number, string>> {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return Object.fromEntries(t!.partitions.map((p) => [p.partition, p.offset]));
  }

  async function endOffsets(topic: string): Promise<Record<number, string>> {
    return Object.fromEntries((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p.high]));
  }

  beforeAll(async () => {
    kafka = testKafka(uniqueName('klt-it'));
    resources = new KafkaResources(kafka);
    admin = await resources.admin();
    registry = new RegistryClient({ url: testConnection().schemaRegistryUrl });
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
  });

  afterAll(async () => {
    await producer?.disconnect();
    if (admin !== undefined) {
      // Ephemeral groups of the CLI and of KlineConsumer without groupId delete themselves; this catches any left.
      const left = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => prefixes.some((p) => g.startsWith(p)));
      if (left.length > 0) await admin.deleteGroups(left).catch(() => undefined);
    }
    await resources?.cleanup();
  });

  describe('the CLI', () => {
    let prefix: string;
    let env: NodeJS.ProcessEnv;

    beforeAll(async () => {
      const app = await newApp(3);
      prefix = app.prefix;
      env = { ...process.env, KLINESTREAM_TOPIC_PREFIX: prefix, KLINESTREAM_LOG_LEVEL: 'warn' };
      // Interleave the symbols as workers of several partitions would.
      const n = Math.max(BTC.length, ETH.length);
      for (let i = 0; i < n; i++) await send(app.topic, app.codec, [BTC[i], ETH[i]].filter((k): k is Kline => k !== undefined));
      // Not Klines: garbage bytes, and a wire-format record whose schema id the registry never issued.
      const unknownId = Buffer.concat([Buffer.from([0, 0x77, 0x35, 0x94, 0x00]), Buffer.from('whatever')]);
      await producer.send({ topic: app.topic, acks: -1, messages: [{ key: 'BTCUSDT', value: Buffer.from('not avro') }, { key: 'ETHUSDT', value: unknownId }] });
      // A transactional writer: committed records are read, aborted ones never.
      const tx = kafka.producer({ transactionalId: uniqueName('klt-tx'), idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
      await tx.connect();
      try {
        const ok = await tx.transaction();
        await ok.send({ topic: app.topic, messages: SOL_COMMITTED.map((k) => ({ key: k.symbol, value: app.codec.encode(k) })) });
        await ok.commit();
        const aborted = await tx.transaction();
        await aborted.send({ topic: app.topic, messages: SOL_ABORTED.map((k) => ({ key: k.symbol, value: app.codec.encode(k) })) });
        await aborted.abort();
      } finally {
        await tx.disconnect();
      }
    });

    it('--final --format csv prints each final kline once, in order per symbol and interval', async () => {
      const r = await runCli(['klines', '--final', '--from-beginning', '--exit-at-end', '--format', 'csv'], env);
      expectSuccess(r);
      expectSameLinesPerSymbol(csvLines(r.stdout), csv(FINALS));
      expect(r.stderr).toContain(`klines: ${FINALS.length} klines printed`);
      expect(r.stderr).toContain(', 2 undecodable');
      // Both bad records are logged with where they are.
      const warnings = r.stderr.split('\n').filter((l) => l.includes('undecodable kline record skipped')).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(warnings).toHaveLength(2);
      for (const w of warnings) expect(w).toMatchObject({ topic: `${prefix}klines`, partition: expect.any(Number), offset: expect.any(String) });
      expect(warnings.map((w) => w.code).sort()).toEqual(['CODEC_BAD_MAGIC', 'CODEC_UNKNOWN_SCHEMA']);
    });

    it('one symbol is one partition: its output is exact, byte for byte', async () => {
      const r = await runCli(['klines', '--symbol', 'BTCUSDT', '--final', '--from-beginning', '--exit-at-end', '--format', 'csv'], env);
      expectSuccess(r);
      expect(r.stdout).toBe([KLINE_CSV_HEADER, ...csv(only(FINALS, ['BTCUSDT']))].join('\n') + '\n');
      const all = await runCli(['klines', '--symbol', 'BTCUSDT', '--from-beginning', '--exit-at-end', '--format', 'csv'], env);
      expectSuccess(all);
      expect(all.stdout).toBe([KLINE_CSV_HEADER, ...csv(deduped(BTC))].join('\n') + '\n');
    });

    it('json (the default) prints every new version once, with all Kline fields; never aborted records', async () => {
      const r = await runCli(['klines', '--from-beginning', '--exit-at-end'], env);
      expectSuccess(r);
      const lines = jsonLines(r.stdout);
      expectSameLinesPerSymbol(lines, json(deduped(VISIBLE)));
      expect(Object.keys(JSON.parse(lines[0]!) as object).sort()).toEqual(Object.keys(BTC[0]!).sort());
      expect(lines.some((l) => l.includes('"version":9'))).toBe(false);
      expect(r.stderr).toContain(`klines: ${deduped(VISIBLE).length} klines printed; ${VISIBLE.length + 2} records read, ${VISIBLE.length - deduped(VISIBLE).length} duplicates dropped`);
    });

    it('--symbol and --interval filter, given several times or comma-separated', async () => {
      const a = await runCli(['klines', '--symbol', 'ETHUSDT,SOLUSDT', '--interval', '1m', '--final', '--from-beginning', '--exit-at-end', '--format', 'csv'], env);
      expectSuccess(a);
      expectSameLinesPerSymbol(csvLines(a.stdout), csv(only(FINALS, ['ETHUSDT', 'SOLUSDT'], ['1m'])));
      const b = await runCli(['klines', '--symbol', 'BTCUSDT', '--symbol', 'ETHUSDT', '--interval', '5m', '--interval', '1M', '--from-beginning', '--exit-at-end', '--format', 'json'], env);
      expectSuccess(b);
      expectSameLinesPerSymbol(jsonLines(b.stdout), json(only(deduped(VISIBLE), ['BTCUSDT', 'ETHUSDT'], ['5m'])));
    });

    it('without --from-beginning only new records: at the end right away, exit 0', async () => {
      const r = await runCli(['klines', '--exit-at-end', '--format', 'csv'], env);
      expectSuccess(r);
      expect(r.stdout).toBe(KLINE_CSV_HEADER + '\n');
    });

    it('leaves no consumer group behind', async () => {
      const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
      expect(groups).toEqual([]);
    });

    it.each([
      [['klines', '--format', 'xml']],
      [['klines', '--interval', '7m']],
      [['klines', 'BTCUSDT']],
      [['klines', '--symbols', 'BTCUSDT']],
    ])('%j is bad usage: exit 2 with a message', async (args) => {
      const r = await runCli(args, env);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^klinestream klines: .+/);
      expect(r.stdout).toBe('');
    });

    it('a prefix without a klines topic is a runtime failure naming the topic (exit 1)', async () => {
      const missing = `${uniqueName('klt-missing')}.`;
      const r = await runCli(['klines', '--from-beginning', '--exit-at-end'], { ...env, KLINESTREAM_TOPIC_PREFIX: missing });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`topic ${missing}klines does not exist`);
    });
  });

  describe('the CLI as a live process', () => {
    /** Starts `klinestream klines ...` and collects its output as it comes. */
    function start(args: string[], env: NodeJS.ProcessEnv) {
      const child = spawn(process.execPath, [builtCli(), 'klines', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const out = { stdout: '', stderr: '' };
      child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      return { child, out, exited };
    }

    it('follows the topic (only new records), and SIGTERM ends it with exit 0 and a summary', async () => {
      const app = await newApp(1);
      const env = { ...process.env, KLINESTREAM_TOPIC_PREFIX: app.prefix, KLINESTREAM_LOG_LEVEL: 'warn' };
      await send(app.topic, app.codec, [fin('BTCUSDT', '1m', 0, 2)]); // before the start: not printed
      const p = start(['--final', '--format', 'csv'], env);
      // The consumer joins asynchronously: keep publishing new finals until two of them are printed.
      const deadline = Date.now() + 90_000;
      for (let i = 1; p.out.stdout.split('\n').length < 4 && Date.now() < deadline; i++) {
        await send(app.topic, app.codec, [live('BTCUSDT', '1m', i, 1), fin('BTCUSDT', '1m', i, 2), fin('BTCUSDT', '1m', i, 2)]);
        await new Promise((r) => setTimeout(r, 250));
      }
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      const lines = csvLines(p.out.stdout);
      expect(lines.length).toBeGreaterThanOrEqual(2);
      // Consecutive finals, each once, none from before the start.
      const opens = lines.map((l) => Number(l.split(',')[2]));
      expect(opens[0]).toBeGreaterThan(BASE);
      for (let i = 1; i < opens.length; i++) expect(opens[i]! - opens[i - 1]!).toBe(60_000);
      expect(p.out.stderr).toContain(`klines: ${lines.length} klines printed`);
    });

    it('a reader that goes away (| head) ends it with exit 0', async () => {
      const app = await newApp(1);
      const env = { ...process.env, KLINESTREAM_TOPIC_PREFIX: app.prefix, KLINESTREAM_LOG_LEVEL: 'warn' };
      for (let b = 0; b < 20; b++) {
        await send(app.topic, app.codec, Array.from({ length: 1000 }, (_, i) => fin('ETHUSDT', '1m', b * 1000 + i, 2)));
      }
      const p = start(['--from-beginning', '--format', 'json'], env);
      const deadline = Date.now() + 90_000;
      while (p.out.stdout.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      p.child.stdout.destroy();
      expect(await p.exited).toBe(0);
      expect(p.out.stderr).toMatch(/klines: \d+ klines printed/);
    });
  });

  describe('KlineConsumer with a group id', () => {
    // One partition: the order of all records is the topic's, so a stop in the middle is a precise point.
    const PHASE1: Kline[] = [
      live('BTCUSDT', '1m', 0, 1), fin('BTCUSDT', '1m', 0, 3), live('BTCUSDT', '1m', 1, 2), live('BTCUSDT', '1m', 0, 2),
      fin('BTCUSDT', '1m', 0, 3), fin('BTCUSDT', '1m', 1, 4), live('BTCUSDT', '5m', 0, 5),
    ];
    const PHASE2: Kline[] = [
      live('BTCUSDT', '1m', 2, 1), fin('BTCUSDT', '1m', 2, 2), fin('BTCUSDT', '1m', 2, 2), live('BTCUSDT', '1m', 3, 1),
      fin('BTCUSDT', '5m', 0, 7), live('BTCUSDT', '1m', 3, 3), fin('BTCUSDT', '1m', 3, 4),
    ];

    it('final-only resumes from committed offsets: each final once across a restart', async () => {
      const app = await newApp(1);
      const groupId = resources.groupId(`${app.prefix}grp`);
      await send(app.topic, app.codec, PHASE1);
      const first = await collect(new KlineConsumer(consumerOptions(app.prefix, { groupId, finalOnly: true, fromBeginning: true }), testLogger()), 'readToEnd');
      expect(first).toEqual([fin('BTCUSDT', '1m', 0, 3), fin('BTCUSDT', '1m', 1, 4)]);
      // Committed after the handlers returned: everything up to the end.
      expect(await committed(groupId, app.topic)).toEqual(await endOffsets(app.topic));

      await send(app.topic, app.codec, PHASE2);
      const second = await collect(new KlineConsumer(consumerOptions(app.prefix, { groupId, finalOnly: true, fromBeginning: true }), testLogger()), 'readToEnd');
      expect(second).toEqual([fin('BTCUSDT', '1m', 2, 2), fin('BTCUSDT', '5m', 0, 7), fin('BTCUSDT', '1m', 3, 4)]);
      expect(await committed(groupId, app.topic)).toEqual(await endOffsets(app.topic));
    });

    it('stop() from inside the handler: the next run continues after the last handled record', async () => {
      const app = await newApp(1);
      const groupId = resources.groupId(`${app.prefix}grp`);
      await send(app.topic, app.codec, [...PHASE1, ...PHASE2]);
      const seen: Array<{ k: Kline; offset: string }> = [];
      const c1 = new KlineConsumer(consumerOptions(app.prefix, { groupId, finalOnly: true, fromBeginning: true }), testLogger());
      await c1.run(async (k, meta) => {
        seen.push({ k, offset: meta.offset });
        if (seen.length === 3) await c1.stop();
      });
      expect(seen.map((s) => s.k)).toEqual([fin('BTCUSDT', '1m', 0, 3), fin('BTCUSDT', '1m', 1, 4), fin('BTCUSDT', '1m', 2, 2)]);
      expect(await committed(groupId, app.topic)).toEqual({ 0: String(Number(seen[2]!.offset) + 1) });

      const rest = await collect(new KlineConsumer(consumerOptions(app.prefix, { groupId, finalOnly: true, fromBeginning: true }), testLogger()), 'readToEnd');
      // The repeated final right after the stop point is the one thing a fresh dedupe state cannot know:
      // it is delivered again with the same version (documented: handlers upsert).
      expect(rest).toEqual([fin('BTCUSDT', '1m', 2, 2), fin('BTCUSDT', '5m', 0, 7), fin('BTCUSDT', '1m', 3, 4)]);
    });

    it('a handler that throws fails the run, and its record is not committed (at least once)', async () => {
      const app = await newApp(1);
      const groupId = resources.groupId(`${app.prefix}grp`);
      await send(app.topic, app.codec, PHASE1);
      const boom = new Error('handler failed');
      let calls = 0;
      let failedAt = '';
      const c1 = new KlineConsumer(consumerOptions(app.prefix, { groupId, fromBeginning: true }), testLogger());
      await expect(c1.readToEnd((_k, meta) => {
        if (++calls === 3) {
          failedAt = meta.offset;
          throw boom;
        }
      })).rejects.toBe(boom);
      const offsets = await committed(groupId, app.topic);
      expect(Number(offsets[0])).toBeLessThanOrEqual(Number(failedAt));

      const again = new KlineConsumer(consumerOptions(app.prefix, { groupId, fromBeginning: true }), testLogger());
      const firstAgain: string[] = [];
      await again.readToEnd((_k, meta) => {
        firstAgain.push(meta.offset);
      });
      expect(firstAgain).toContain(failedAt);
      expect(again.stats.decodeFailures).toBe(0);
    });

    it('without a group id nothing is committed and the ephemeral group is gone afterwards', async () => {
      const app = await newApp(2);
      await send(app.topic, app.codec, PHASE1);
      const c = new KlineConsumer(consumerOptions(app.prefix, { fromBeginning: true }), testLogger());
      const got = await collect(c, 'readToEnd');
      expect(got).toEqual(deduped(PHASE1));
      expect(c.ephemeral).toBe(true);
      expect(c.groupId.startsWith(`${app.prefix}klinestream-klines-`)).toBe(true);
      const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(app.prefix));
      expect(groups).toEqual([]);
      expect(c.stats).toMatchObject({ received: PHASE1.length, delivered: deduped(PHASE1).length, decodeFailures: 0 });
    });

    it('run() follows new records live until stop()', async () => {
      const app = await newApp(1);
      const c = new KlineConsumer(consumerOptions(app.prefix, { finalOnly: true }), testLogger());
      const got: Kline[] = [];
      let sent = false;
      const running = c.run((k) => {
        got.push(k);
        if (got.length === 2) void c.stop();
      });
      // Only new records: keep writing until the consumer, which joins asynchronously, has seen two finals.
      const deadline = Date.now() + 60_000;
      for (let i = 0; got.length < 2 && Date.now() < deadline; i++) {
        await send(app.topic, app.codec, [fin('ETHUSDT', '1m', i, 2)]);
        sent = true;
        await new Promise((r) => setTimeout(r, 200));
      }
      await running;
      expect(sent).toBe(true);
      expect(got).toHaveLength(2);
      expect(got[1]!.openTime).toBeGreaterThan(got[0]!.openTime);
    });
  });
});
