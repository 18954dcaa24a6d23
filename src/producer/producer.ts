/**
 * The producer: exchange frames in, transactional `trades` out (docs/kafka-design.md, "Producer").
 *
 *   source (WebSocket pool | frames file) --parse--> symbol index --> SymbolSequencer --> OutgoingBuffer
 *        --> TradeWriter (one transaction per batch)              REST backfills --^
 *   WatermarkClock --> WATERMARK records into the same buffer
 *
 * This file wires the parts and owns the life cycle: topics, schemas, symbols and checkpoints at start; the
 * source loop; the drop policy when Kafka is away too long; a clean stop that writes what is buffered.
 */
import type { Admin, Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import type { Config } from '../config/config';
import { topicNames } from '../config/config';
import { SchemaCatalogue } from '../codec/schema-catalogue';
import { registerValueCodec, valueDecoder } from '../codec/topic-codecs';
import { TradeWireWriter } from '../codec/trade-wire';
import type { SymbolEntry } from '../codec/records';
import { AggTradeFrameParser, createAggTradeRecord, FrameResult, type AggTradeRecord } from '../exchange/aggtrade-frame';
import { ArchiveCsvParser, detectFileFormat, detectTimeUnit, type FileFormat } from '../exchange/archive-csv';
import { BinanceRest, type ExchangeSymbol } from '../exchange/binance-rest';
import { BinanceStreamPool } from '../exchange/binance-streams';
import { DEFAULT_MAX_LINE_BYTES, FrameFileReader } from '../exchange/frame-file';
import { FrameStats } from '../exchange/frame-stats';
import { TIME_OK, TIME_REASONS, TradeTimeCheck, type TimeVerdict } from '../exchange/trade-times';
import { KlinestreamError } from '../errors';
import { kafkaClient, registryClient } from '../kafka/client';
import { ensureTopics, partitionCounts } from '../kafka/topics';
import type { Logger } from '../observability/log';
import { RateLimitedLog } from '../observability/rate-limited-log';
import type { Connection } from '../config/connection';
import { SymbolDirectory } from '../symbols/symbol-directory';
import { SymbolsFollower } from '../symbols/symbols-topic';
import { Backfiller } from './backfiller';
import { OutgoingBuffer } from './outgoing-buffer';
import { badFrameReason, ProducerMetrics } from './producer-metrics';
import { GAP, SymbolSequencer, type SequencerSink } from './symbol-sequencer';
import { TradeWriter } from './trade-writer';
import { WatermarkClock } from './watermark-clock';

export type ProducerSource =
  | { kind: 'binance'; symbols: readonly string[] | 'all' }
  | {
    kind: 'file'; path: string; speed: number | 'max';
    /** What the file holds; default: detected from its first line (src/exchange/archive-csv.ts). */
    format?: FileFormat;
    /** The symbol of an archive CSV of aggregate trades (which does not name it); required for that format. */
    symbol?: string;
  };

export interface ProducerOptions {
  config: Config;
  connection: Connection;
  source: ProducerSource;
  log: Logger;
  registry: Registry;
  /** Aborting stops the producer cleanly (writes what is buffered). */
  signal: AbortSignal;
  /** Progress lines (file source) go here; default stderr. */
  progress?: (line: string) => void;
}

export interface ProducerSummary {
  frames: number;
  aggTrades: number;
  otherFrames: number;
  malformed: number;
  tradesWritten: number;
  duplicates: number;
  gapsFound: number;
  gapsFilled: number;
  unfillableGaps: number;
  symbols: number;
  transactions: number;
  unwritten: number;
  /** Live trades held behind open gaps when the producer stopped (not written; the next start backfills them). */
  heldAtStop: number;
  /** Trades released from REST backfills. */
  releasedFromRest: number;
  elapsedMs: number;
}

const EMPTY: readonly number[] = [];
const LIST_REFRESH_MS = 60_000;
/**
 * With two feeds a jump is backfilled only this long after it was seen: the other feed usually delivers the
 * missing ids within milliseconds (it was not cut), and then no REST call is made at all.
 */
const FEED_GAP_GRACE_MS = 1000;

export class Producer implements SequencerSink {
  private readonly config: Config;
  private readonly log: Logger;
  private readonly names: ReturnType<typeof topicNames>;
  private readonly kafka: Kafka;
  private admin!: Admin;
  private readonly directory = new SymbolDirectory();
  private readonly buffer: OutgoingBuffer;
  private readonly sequencer: SymbolSequencer;
  private readonly clock: WatermarkClock;
  private writer!: TradeWriter;
  private rest: BinanceRest | undefined;
  private backfiller: Backfiller | undefined;
  /** One pool per feed (KLINESTREAM_EXCHANGE_FEEDS): independent connections carrying the same symbols. */
  private readonly pools: BinanceStreamPool[] = [];
  /** Open connections carrying each symbol, over all feeds: a symbol misses trades only when it drops to 0. */
  private feedsOpen = new Uint16Array(1024);
  /** Live trades rejected for their time, by verdict (frames and the REST check share the labels). */
  private readonly liveTimes: TradeTimeCheck;
  /** Per symbol: ids reported unfillable, gaps, and the last range (the status page shows them). */
  private readonly unfillableBySymbol = new Map<number, { gaps: number; ids: number; lastFrom: number; lastTo: number }>();
  private readonly metrics: ProducerMetrics;
  private readonly parser = new AggTradeFrameParser();
  private readonly record: AggTradeRecord = createAggTradeRecord();
  private readonly stats = new FrameStats();
  private readonly badLog: RateLimitedLog;
  private partitions = 0;
  private tradesByPartition = new Float64Array(0);
  private readonly connectionSymbols = new Map<number, number[]>();
  /** New listings whose first backfill is still to be asked: index -> exchange time it starts from. */
  private readonly listedSince = new Map<number, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly started = Date.now();
  private tradesWritten = 0;
  private readonly fileMode: boolean;

  constructor(private readonly options: ProducerOptions) {
    this.config = options.config;
    this.log = options.log;
    this.names = topicNames(this.config.topicPrefix);
    this.fileMode = options.source.kind === 'file';
    this.kafka = kafkaClient(this.config, options.connection, this.log, { clientId: 'klinestream-producer' });
    this.buffer = new OutgoingBuffer(this.config.producerBufferTrades);
    this.sequencer = new SymbolSequencer(this, {
      gapPolicy: this.fileMode ? 'accept' : 'backfill',
      maxHeldTotal: this.config.heldTradesMax,
      gapGraceMs: this.config.feeds > 1 ? FEED_GAP_GRACE_MS : 0,
    });
    this.liveTimes = new TradeTimeCheck(this.config.times, 'ms');
    this.clock = new WatermarkClock({ partitions: 1, intervalMs: this.config.watermarkIntervalMs });
    this.badLog = new RateLimitedLog(this.log);
    this.metrics = new ProducerMetrics(options.registry, {
      sequencer: () => ({ ...this.sequencer.counters }),
      bufferFill: () => this.buffer.size,
      bufferCapacity: () => this.buffer.capacity,
      kafkaHealthy: () => (this.writer?.healthy ? 1 : 0),
      watermarkLagMs: () => this.watermarkLagMs(),
      tradesByPartition: () => this.tradesByPartition,
      frames: () => ({ ok: this.stats.ok, other: this.stats.notAggTrade, malformed: this.stats.malformed }),
      connections: () => this.connectionSymbols.size,
      restWeightUsed: () => this.rest?.weightUsedThisMinute ?? 0,
      held: () => ({ trades: this.sequencer.heldTotal, slots: this.sequencer.heldBudget.allocated, max: this.sequencer.heldBudget.max }),
      unfillable: () => this.unfillableRows(),
    });
  }

  /** Runs until the source ends (file) or the signal aborts (both); returns what was done. */
  async run(): Promise<ProducerSummary> {
    try {
      // Inside the try: a start that fails half-way (e.g. the registry not answering) still closes the
      // Kafka clients it opened, so the process exits with its error instead of hanging on open sockets.
      await this.prepare();
      if (this.options.source.kind === 'file') await this.runFile(this.options.source.path, this.options.source.speed);
      else await this.runLive(this.options.source.symbols);
    } finally {
      await this.shutdown();
    }
    return this.summary();
  }

  // ---- start ---------------------------------------------------------------------------------------------

  private async prepare(): Promise<void> {
    const { config, log, names } = this;
    this.admin = this.kafka.admin();
    await this.admin.connect();
    await ensureTopics(this.admin, config, log);
    this.setPartitions((await partitionCounts(this.admin, [names.trades]))[names.trades]!);
    const catalogue = SchemaCatalogue.load();
    const registry = registryClient(config, this.options.connection, 'klinestream-producer');
    const tradeCodec = await registerValueCodec(registry, catalogue, names.trades, 'Trade');
    const symbolCodec = await registerValueCodec(registry, catalogue, names.symbols, 'SymbolEntry');
    this.writer = new TradeWriter({
      kafka: this.kafka, admin: this.admin,
      topics: { trades: names.trades, symbols: names.symbols, producerState: names.producerState, transactionalId: names.producerTransactionalId, groupPrefix: config.topicPrefix },
      buffer: this.buffer, directory: this.directory, symbolCodec, tradeWire: new TradeWireWriter(tradeCodec.schemaId!), log,
      hooks: {
        committed: (records, trades, ms) => {
          this.tradesWritten += trades;
          // Symbols deferred by a full buffer backfill what they missed once there is room again.
          if (this.buffer.size <= this.buffer.capacity / 2) {
            const n = this.sequencer.resumeDeferred();
            if (n > 0) log.info('room in the outgoing buffer again: backfilling the trades deferred meanwhile', { symbols: n });
          }
          this.metrics.transactions.inc({ outcome: 'committed' });
          this.metrics.transactionSeconds.observe(ms / 1000);
          this.metrics.batchRecords.observe(records);
        },
        failed: (reason) => this.metrics.transactions.inc({ outcome: reason }),
        recovered: () => {
          const n = this.sequencer.resumeDeferred();
          if (n > 0) log.info('Kafka is back: backfilling the trades dropped meanwhile', { symbols: n });
        },
      },
    });
    // Fence first (docs/kafka-design.md, "Recovery"): initialising the transactional id aborts what an older
    // producer left open and stops it from committing anything more; only then are `symbols` and
    // `producer-state` final. Read before the fence, the predecessor's last SymbolEntry commits could be
    // missed and an index given out twice.
    await this.writer.fence();
    const symbols = new SymbolsFollower({
      kafka: this.kafka, admin: this.admin, topic: names.symbols, groupPrefix: config.topicPrefix,
      decoder: valueDecoder(registry, catalogue, 'SymbolEntry'), directory: this.directory, log,
    });
    // The producer is the only writer of `symbols` now: reading it once is enough.
    try {
      await symbols.start();
    } finally {
      await symbols.stop();
    }
    const checkpoints = await this.writer.readOwnedState();
    this.writer.applyCheckpoints(checkpoints);
    log.info('producer ready', {
      instance: this.writer.instance, partitions: this.partitions, knownSymbols: this.directory.size, checkpoints: checkpoints.size,
      topics: { trades: names.trades, symbols: names.symbols, producerState: names.producerState },
    });
    this.writer.start();
    this.writer.done.catch((e: unknown) => this.fail(e));
  }

  private setPartitions(n: number): void {
    this.partitions = n;
    this.clock.setPartitions(n);
    const t = new Float64Array(n);
    t.set(this.tradesByPartition.subarray(0, Math.min(n, this.tradesByPartition.length)));
    this.tradesByPartition = t;
  }

  /** The index of `name`, assigning (and queueing the SymbolEntry of) a new one. */
  private indexFor(name: string, info?: ExchangeSymbol): number {
    const known = this.directory.indexOf(name);
    if (known !== undefined) return known;
    const extras: Partial<SymbolEntry> = info === undefined ? {} : {
      status: info.status, baseAsset: info.baseAsset, quoteAsset: info.quoteAsset, pricePrecision: info.pricePrecision, quantityPrecision: info.quantityPrecision,
    };
    const e = this.directory.assign(name, this.partitions, extras);
    this.writer.addEntry(e);
    this.log.info('new symbol', { symbol: name, index: e.index, partition: e.partition });
    return e.index;
  }

  /** Symbols that have a checkpoint resume from it (and are watched until their stream proves contiguous). */
  private resumeSymbol(index: number): void {
    const last = this.writer.committedIdOf(index);
    if (last >= 0 && this.sequencer.expectedId(index) < 0) this.sequencer.resume(index, last, this.writer.committedTimeOf(index));
  }

  // ---- SequencerSink -------------------------------------------------------------------------------------

  release(symbol: number, r: AggTradeRecord): boolean {
    if (this.buffer.full) {
      if (this.fileMode) return false; // cannot happen: the file loop waits for room
      // Kafka answers but cannot keep up (e.g. a large backfill): only this symbol waits (the sequencer
      // defers it from this trade) and resumes once commits made room. Kafka away: drop the buffer.
      if (!this.writer.healthy) this.dropBuffer();
      return false;
    }
    const p = this.directory.partitionOf(symbol);
    this.buffer.pushRecord(symbol, p, r);
    this.tradesByPartition[p]++;
    return true;
  }

  backfill(symbol: number, fromId: number, lastTradeTime: number): void {
    if (this.backfiller === undefined) {
      this.sequencer.backfillSkip(symbol, fromId, Infinity, 'no REST source');
      return;
    }
    const since = this.listedSince.get(symbol);
    if (since !== undefined) {
      // A new listing's first backfill: from its first trade since the previous listing.
      this.listedSince.delete(symbol);
      this.backfiller.request(symbol, fromId, lastTradeTime, since);
      return;
    }
    this.backfiller.request(symbol, fromId, lastTradeTime);
  }

  /**
   * A symbol that appears in a later listing while running (`--all`). It may have traded before its stream is
   * subscribed: with a checkpoint it resumes from it; otherwise every trade since `since` (the exchange time
   * of the previous listing, which did not have it) is backfilled before its live trades. Its stream joins a
   * connection that is already open (no `open` event), so its watch deadline is set here: a quiet new symbol
   * is checked by REST like any watched one, instead of holding its partition's watermark.
   */
  private startListing(index: number, since: number, now: number): void {
    if (this.sequencer.expectedId(index) >= 0) return;
    if (this.writer.committedIdOf(index) >= 0) {
      this.resumeSymbol(index);
    } else if (Number.isFinite(since)) {
      this.sequencer.resume(index, -1, since);
      this.listedSince.set(index, since);
    } else {
      return;
    }
    this.sequencer.connectionOpened([index], now);
  }

  unfillable(symbol: number, fromId: number, toId: number, reason: string): void {
    let u = this.unfillableBySymbol.get(symbol);
    if (u === undefined) this.unfillableBySymbol.set(symbol, (u = { gaps: 0, ids: 0, lastFrom: -1, lastTo: -1 }));
    u.gaps++;
    if (toId >= fromId) u.ids += toId - fromId + 1;
    u.lastFrom = fromId;
    u.lastTo = toId;
    this.log.error('gap that cannot be filled: these trades will be missing', {
      symbol: this.directory.nameOf(symbol), fromAggId: fromId, toAggId: toId < 0 ? 'unknown' : toId, ids: toId >= fromId ? toId - fromId + 1 : undefined, reason,
    });
  }

  private unfillableRows(): Array<{ symbol: string; gaps: number; ids: number; lastFrom: number; lastTo: number }> {
    const out = [];
    for (const [s, u] of this.unfillableBySymbol) out.push({ symbol: this.directory.nameOf(s) ?? String(s), ...u });
    return out;
  }

  /**
   * Kafka has been away so long that the buffer is full: drop it (bounded memory), and let every symbol in it
   * start again from its last committed trade once Kafka is back (REST backfills the stretch).
   */
  private dropBuffer(): void {
    const b = this.buffer;
    // The head that a transaction in flight is writing stays: it commits (or is retried) as it is. Per symbol,
    // the first dropped trade is where its backfill starts (the buffer is in id order per symbol).
    const keep = this.writer.inFlight;
    const first = new Map<number, number>();
    for (let i = keep; i < b.size; i++) {
      const p = b.at(i);
      if (b.kind[p] === 0 && !first.has(b.symbol[p]!)) first.set(b.symbol[p]!, b.aggId[p]!);
    }
    const records = b.size - keep;
    b.truncate(keep);
    for (const [s, firstId] of first) this.sequencer.defer(s, firstId, this.writer.committedTimeOf(s));
    this.metrics.bufferDrops.inc();
    this.log.error('Kafka has been unavailable too long: dropped the outgoing buffer; its trades are backfilled from REST once Kafka is back', {
      records, symbols: first.size, bufferCapacity: b.capacity,
    });
  }

  // ---- live source ---------------------------------------------------------------------------------------

  private async runLive(wanted: readonly string[] | 'all'): Promise<void> {
    const { config, log } = this;
    const rest = this.rest = new BinanceRest({
      baseUrl: config.exchangeRestUrl, paths: config.marketPaths, weightPerMinute: config.restWeightPerMinute, log,
      metrics: { requests: (endpoint, outcome) => this.metrics.restRequests.inc({ endpoint, outcome }), weightUsed: (w) => this.metrics.restWeight.inc(w) },
    });
    this.backfiller = new Backfiller({
      rest, sequencer: this.sequencer, nameOf: (s) => this.directory.nameOf(s), log, maxAgeMs: config.backfillMaxAgeMs,
      metrics: { request: (outcome) => this.metrics.backfillRequests.inc({ outcome }) },
      times: this.liveTimes,
    });
    let listing: ExchangeSymbol[];
    try {
      listing = await rest.exchangeInfo();
    } catch (e) {
      throw new KlinestreamError('EXCHANGE_UNREACHABLE', `cannot reach the exchange at ${config.exchangeRestUrl} (${(e as Error).message}); check the network, or run the offline demo: npm run demo`, { url: config.exchangeRestUrl }, { cause: e });
    }
    const chosen = this.chooseSymbols(listing, wanted);
    const names = chosen.map((s) => s.symbol);
    for (const info of chosen) this.resumeSymbol(this.indexFor(info.symbol, info));
    const pools = this.pools;
    for (let feed = 0; feed < config.feeds; feed++) {
      pools.push(new BinanceStreamPool({
        wsBaseUrl: config.exchangeWsUrl, combinedStreamPath: config.marketPaths.combinedStreamPath,
        streamsPerConnection: config.streamsPerConnection, lifetimeMs: config.connectionLifetimeMs, log,
        // Feeds number their connections apart: feed k has ids k+1, k+1+feeds, ...
        connectionIds: { first: feed + 1, step: config.feeds },
        metrics: { reconnects: (reason) => this.metrics.reconnects.inc({ reason }), connections: () => undefined },
        events: {
          frame: (id, data, at) => this.onFrame(id, data, at),
          open: (id, symbols, replacing) => this.onOpen(id, symbols, replacing),
          closed: (id, symbols, planned, reason) => this.onClosed(id, symbols, planned, reason),
          alive: (id, at) => this.clock.alive(id, at),
        },
      }));
    }
    const setSymbols = (list: readonly string[]) => {
      for (const p of pools) p.setSymbols(list);
    };
    setSymbols(names);
    log.info('streaming', { market: config.market, symbols: names.length, feeds: config.feeds, connections: config.feeds * Math.ceil(names.length / config.streamsPerConnection), ws: config.exchangeWsUrl });
    this.every(config.watermarkIntervalMs, () => this.liveTick());
    if (wanted === 'all') {
      // The exchange clock when the listing we stream was taken: a symbol missing from it had not traded yet.
      let listedAt = rest.lastServerTime ?? NaN;
      this.every(LIST_REFRESH_MS, () => {
        rest.exchangeInfo().then((list) => {
          const since = listedAt;
          listedAt = rest.lastServerTime ?? NaN;
          const fresh = this.chooseSymbols(list, 'all').filter((s) => this.directory.indexOf(s.symbol) === undefined || !names.includes(s.symbol));
          if (fresh.length === 0) return;
          const now = Date.now();
          for (const info of fresh) {
            this.startListing(this.indexFor(info.symbol, info), since, now);
            names.push(info.symbol);
          }
          log.info('new listings picked up', { symbols: fresh.map((s) => s.symbol) });
          setSymbols(names);
        }, (e: unknown) => log.warn('refreshing the symbol list failed; keeping the current one', { error: e }));
      });
    }
    await this.untilAborted();
  }

  private chooseSymbols(listing: ExchangeSymbol[], wanted: readonly string[] | 'all'): ExchangeSymbol[] {
    if (wanted === 'all') {
      return listing.filter((s) => s.status === 'TRADING' && (this.config.market === 'spot' || s.contractType === 'PERPETUAL'));
    }
    const byName = new Map(listing.map((s) => [s.symbol, s]));
    const unknown = wanted.filter((s) => !byName.has(s));
    if (unknown.length > 0) {
      throw new KlinestreamError('CONFIG_INVALID', `--symbols: the exchange (${this.config.market}) lists no ${unknown.join(', ')}`, { unknown }, { exitCode: 2 });
    }
    return wanted.map((s) => byName.get(s)!);
  }

  private onFrame(connection: number, data: Buffer, receivedAt: number): void {
    const r = this.record;
    let result = data.length > DEFAULT_MAX_LINE_BYTES ? this.parser.reject(`frame of ${data.length} bytes is too large`) : this.parser.parse(data, r);
    // Times are checked before anything trusts them (the watermark clock, the sequencer): docs/times.md.
    const verdict = result === FrameResult.OK ? this.liveTimes.check(r, receivedAt) : TIME_OK;
    if (verdict !== TIME_OK) result = this.parser.reject(this.liveTimes.reason);
    this.stats.record(result, this.stats.frames + 1, this.parser, data);
    if (result !== FrameResult.OK) {
      this.countBad(result, data, `connection ${connection}`, verdict);
      return;
    }
    this.clock.frame(connection, r.eventTime, receivedAt);
    const index = this.directory.indexOf(r.symbol);
    if (index === undefined) {
      this.metrics.badFrames.inc({ reason: 'unknown_symbol' });
      this.badLog.write('warn', 'unknown_symbol', 'aggTrade of a symbol that was not subscribed; skipped', { symbol: r.symbol, connection });
      return;
    }
    this.sequencer.live(index, r, receivedAt);
    this.writer.notify();
  }

  private onOpen(id: number, symbols: readonly string[], replacing: number | undefined): void {
    const indexes = symbols.map((s) => this.indexFor(s));
    this.connectionSymbols.set(id, indexes);
    this.clock.connectionOpened(id, Date.now());
    // Symbols no open connection carried until now (of any feed) may have missed trades meanwhile: a slot that
    // was reconnecting, a new listing added to it, a backfill that ended while it was down. They are watched
    // like reconnected ones. A planned replacement (or the other feed still open) covered them.
    const uncovered: number[] = [];
    for (const s of indexes) {
      this.ensureFeeds(s + 1);
      if (this.feedsOpen[s]++ === 0 && replacing === undefined) uncovered.push(s);
    }
    if (uncovered.length > 0) this.sequencer.connectionLost(uncovered, -Infinity);
    this.sequencer.connectionOpened(indexes, Date.now());
    this.log.info('stream connection open', { connection: id, symbols: symbols.length, replacing });
  }

  private onClosed(id: number, symbols: readonly string[], planned: boolean, reason: string): void {
    const indexes = this.connectionSymbols.get(id) ?? symbols.map((s) => this.indexFor(s));
    const lost: number[] = [];
    for (const s of indexes) {
      this.ensureFeeds(s + 1);
      if (this.feedsOpen[s]! > 0 && --this.feedsOpen[s]! === 0 && !planned) lost.push(s);
    }
    // Only symbols no other connection carries now can miss trades: with two feeds a single cut costs nothing.
    if (lost.length > 0) this.sequencer.connectionLost(lost, this.clock.reached(id, Date.now()));
    this.clock.connectionClosed(id);
    this.connectionSymbols.delete(id);
    (planned ? this.log.info : this.log.warn).call(this.log, 'stream connection closed', { connection: id, symbols: symbols.length, planned, reason, symbolsLost: lost.length });
  }

  private ensureFeeds(n: number): void {
    if (n <= this.feedsOpen.length) return;
    const a = new Uint16Array(Math.max(n, this.feedsOpen.length * 2));
    a.set(this.feedsOpen);
    this.feedsOpen = a;
  }

  /** A rejected frame: counted by reason (an implausible time by its verdict) and logged with its text, rate-limited. */
  private countBad(result: FrameResult, data: Uint8Array, where: string, verdict: TimeVerdict = TIME_OK): void {
    if (result === FrameResult.NOT_AGGTRADE) {
      this.metrics.otherFrames.inc({ kind: this.parser.kind });
      return;
    }
    const reason = verdict !== TIME_OK ? TIME_REASONS[verdict] : badFrameReason(this.parser.reason);
    this.metrics.badFrames.inc({ reason });
    this.badLog.write('warn', reason, 'malformed frame skipped', { where, reason: this.parser.reason, text: Buffer.from(data.buffer, data.byteOffset, Math.min(data.length, 300)).toString('utf8') });
  }

  private liveTick(): void {
    const now = Date.now();
    this.sequencer.tick(now);
    this.emitWatermarks(now, this.clock.connectionsReached(now));
  }

  private emitWatermarks(now: number, base: number): void {
    const seq = this.sequencer;
    this.clock.due(now, base, this.fileMode ? EMPTY : seq.holdingSymbols(), (s) => seq.holdTime(s), (s) => this.directory.partitionOf(s), (p, w) => {
      if (!this.buffer.full) this.buffer.pushWatermark(p, w, w);
    });
    this.writer.notify();
  }

  private watermarkLagMs(): number {
    let min = Infinity;
    for (let p = 0; p < this.partitions; p++) min = Math.min(min, this.clock.lastWatermark(p));
    return Number.isFinite(min) ? Date.now() - min : 0;
  }

  // ---- file source ---------------------------------------------------------------------------------------

  private async runFile(path: string, speed: number | 'max'): Promise<void> {
    const reader = new FrameFileReader(path);
    const r = this.record;
    // Recorded frames, or the exchange's archive CSV of one symbol's aggregate trades (history import).
    const source = this.options.source.kind === 'file' ? this.options.source : undefined;
    const format = source?.format ?? (await detectFileFormat(path));
    let csv: ArchiveCsvParser | undefined;
    if (format === 'archive-csv') {
      if (source?.symbol === undefined) {
        throw new KlinestreamError('CONFIG_INVALID', `${path} is an archive CSV of aggregate trades, which does not name its symbol: add --symbol S`, { path }, { exitCode: 2 });
      }
      csv = new ArchiveCsvParser(source.symbol);
    }
    // The unit most of the file's first trades use (docs/times.md); a trade in another one is a bad frame.
    const unit = await detectTimeUnit(path, format, this.config.times);
    if (unit !== 'ms') this.log.info('the file\'s times are not milliseconds: read as such and converted', { path, unit });
    const times = new TradeTimeCheck(this.config.times, unit);
    const progress = this.options.progress ?? ((line: string) => process.stderr.write(line + '\n'));
    let lastProgress = Date.now();
    let firstTradeTime = NaN;
    const wallStart = Date.now();
    // Resuming a file replay: what producer-state holds is dropped as duplicate.
    for (const e of this.directory.all()) this.resumeSymbol(e.index);
    for await (const line of reader) {
      if (this.options.signal.aborted || this.failure !== undefined) break;
      let result: FrameResult;
      if (line.oversizeBytes > 0) {
        result = this.parser.reject(`line is ${line.oversizeBytes} bytes, over the ${DEFAULT_MAX_LINE_BYTES}-byte limit for one frame`);
      } else if (csv === undefined) {
        result = this.parser.parse(line.frame, r);
      } else {
        result = csv.parse(line.frame, r);
        if (result === FrameResult.NOT_AGGTRADE) {
          // The CSV header line: skipped and counted like a recorder header.
          this.stats.headerLines++;
          continue;
        }
        // The reason travels on the frame parser, which FrameStats and the bad-frame metrics read.
        if (result === FrameResult.MALFORMED) this.parser.reject(csv.reason);
      }
      let verdict: TimeVerdict = TIME_OK;
      if (result === FrameResult.OK) {
        verdict = csv === undefined ? times.check(r, NaN) : times.checkConverted(r, csv.unit, NaN);
        if (verdict !== TIME_OK) result = this.parser.reject(times.reason);
      }
      this.stats.record(result, line.lineNo, this.parser, line.frame);
      if (result !== FrameResult.OK) {
        this.countBad(result, line.frame, `${path}:${line.lineNo}`, verdict);
        continue;
      }
      if (speed !== 'max') {
        if (Number.isNaN(firstTradeTime)) firstTradeTime = r.tradeTime;
        const due = wallStart + (r.tradeTime - firstTradeTime) / speed;
        const wait = due - Date.now();
        if (wait > 1) await this.sleep(wait);
      }
      // Never drop from a file: wait for the writer instead (room for the trade and a round of watermarks).
      if (this.buffer.free < this.partitions + 2) await this.waitForRoom();
      const index = this.indexFor(r.symbol);
      const resumedFrom = this.sequencer.expectedId(index);
      if (resumedFrom < 0) this.resumeSymbol(index);
      this.sequencer.live(index, r);
      if (this.clock.observeTradeTime(r.tradeTime)) this.emitWatermarks(0, this.clock.fileWatermark());
      this.writer.notify();
      if (Date.now() - lastProgress >= 2000) {
        lastProgress = Date.now();
        progress(`produce: ${this.stats.frames} frames, ${this.stats.ok} trades read, ${this.tradesWritten} written, ${this.buffer.size} buffered, event time ${new Date(this.clock.fileWatermark()).toISOString()}`);
      }
    }
    if (this.buffer.free < this.partitions + 2) await this.waitForRoom();
    this.clock.final(this.clock.fileWatermark(), (p, w) => this.buffer.pushWatermark(p, w, w));
    this.stats.blankLines += reader.blankLines;
    this.stats.headerLines += reader.headerLines;
    // Everything read is written before the command ends, however long Kafka is away (Ctrl-C stops waiting).
    if (this.buffer.size > 0 && !this.writer.healthy) this.log.warn('waiting for Kafka to write the rest of the file', { buffered: this.buffer.size });
    await this.writer.drain(this.options.signal);
  }

  private async waitForRoom(): Promise<void> {
    const want = Math.max(this.partitions + 2, this.buffer.capacity >> 1);
    while (this.buffer.free < want && !this.options.signal.aborted && this.failure === undefined) {
      this.writer.notify();
      await this.sleep(5);
    }
  }

  // ---- stop ----------------------------------------------------------------------------------------------

  private failure: unknown;

  private fail(e: unknown): void {
    this.failure = e;
    this.log.error('producer stops', { error: e });
    this.abortWaits();
  }

  private abortWaits: () => void = () => undefined;

  private untilAborted(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = () => (this.failure === undefined ? resolve() : reject(this.failure));
      if (this.options.signal.aborted || this.failure !== undefined) return done();
      this.options.signal.addEventListener('abort', done, { once: true });
      this.abortWaits = done;
    });
  }

  private async shutdown(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.backfiller?.stop();
    await Promise.all(this.pools.map((p) => p.close()));
    this.rest?.close();
    // Held trades wait behind an open gap and are never written out of order: the next start fetches them
    // again (from producer-state's last id). Say how many, so a stop that left work behind is visible.
    const held = this.sequencer.heldTotal;
    const gaps = [...this.sequencer.holdingSymbols()].filter((s) => this.sequencer.modeOf(s) === GAP).length;
    this.heldAtStop = held;
    if (held > 0 || gaps > 0) {
      this.log.warn('stopping with trades held behind open gaps: not written; the next start backfills them from REST', { heldTrades: held, symbolsInGap: gaps });
    }
    const unwritten = this.writer === undefined ? 0 : await this.writer.stop();
    if (unwritten > 0) this.log.error('stopped with records not written (Kafka unavailable); the next start backfills them from REST', { records: unwritten });
    this.unwritten = unwritten;
    await this.admin?.disconnect().catch(() => undefined);
    if (this.failure !== undefined) throw this.failure;
  }

  private unwritten = 0;
  private heldAtStop = 0;

  private summary(): ProducerSummary {
    const c = this.sequencer.counters;
    return {
      frames: this.stats.frames, aggTrades: this.stats.ok, otherFrames: this.stats.notAggTrade, malformed: this.stats.malformed,
      tradesWritten: this.tradesWritten, duplicates: c.duplicates, gapsFound: c.gapsFound, gapsFilled: c.gapsFilled, unfillableGaps: c.unfillableGaps,
      symbols: this.directory.size, transactions: this.writer?.transactions ?? 0, unwritten: this.unwritten, heldAtStop: this.heldAtStop,
      releasedFromRest: c.releasedFromRest, elapsedMs: Date.now() - this.started,
    };
  }

  get frameStats(): FrameStats {
    return this.stats;
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    this.timers.push(t);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}
