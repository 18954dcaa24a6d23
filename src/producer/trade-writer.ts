/**
 * Writes the outgoing buffer to Kafka, one transaction per batch (docs/kafka-design.md, "Exactly once into
 * trades"). The protocol, as numbered steps:
 *
 *   1. Take up to `maxBatch` records from the head of the buffer (they stay there until step 4).
 *   2. Begin a transaction; send, in this order: the SymbolEntry of every symbol not yet committed, the
 *      trades and watermarks (each to its own partition), one producer-state checkpoint per symbol in the
 *      batch (its last aggregate id and trade time).
 *   3. Commit the transaction.
 *   4. Drop the records from the buffer; remember each symbol's committed id.
 *
 * Any failure: abort (best effort), mark Kafka unhealthy and recover with backoff:
 *   R1. a new client instance initialises the transactional id (aborting whatever was left open, fencing any
 *       older instance) and commits an owner record naming this instance (fence(); at start the producer
 *       reads `symbols` only after it);
 *   R2. read producer-state to its end: the committed id per symbol, and the owner;
 *   R3. another owner: we were replaced (a second producer started): stop for good (PRODUCER_FENCED);
 *   R4. drop from the buffer what did commit after all (an uncertain commit), keep the rest, go on.
 * A fencing error is answered by reading the owner first (R2/R3) without initialising, so two producers never
 * take the transactional id from each other in turn.
 */
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { Partitioners, type Admin, type Kafka, type Message, type Producer } from 'kafkajs';
import type { AvroCodec } from '../codec/avro-codec';
import type { SymbolEntry } from '../codec/records';
import type { TradeWireWriter } from '../codec/trade-wire';
import { KlinestreamError } from '../errors';
import { TopicReader } from '../kafka/topic-reader';
import type { Logger } from '../observability/log';
import type { SymbolDirectory } from '../symbols/symbol-directory';
import { KIND_TRADE, type OutgoingBuffer } from './outgoing-buffer';
import { decodeCheckpoint, decodeOwner, encodeCheckpoint, encodeOwner, OWNER_KEY, type Checkpoint, type OwnerRecord } from './producer-state';

export interface TradeWriterTopics {
  trades: string;
  symbols: string;
  producerState: string;
  transactionalId: string;
  groupPrefix: string;
}

export interface TradeWriterHooks {
  /** A transaction committed `records` records, `trades` of them trades, in `ms`. */
  committed(records: number, trades: number, ms: number): void;
  /** A transaction failed; Kafka is considered away until recovery succeeds. */
  failed(reason: string, error: unknown): void;
  /** Recovery succeeded (Kafka answers again); `dropped` = records found committed after all. */
  recovered(dropped: number): void;
}

export interface TradeWriterOptions {
  kafka: Kafka;
  admin: Admin;
  topics: TradeWriterTopics;
  buffer: OutgoingBuffer;
  directory: SymbolDirectory;
  symbolCodec: AvroCodec<SymbolEntry>;
  tradeWire: TradeWireWriter;
  log: Logger;
  hooks: TradeWriterHooks;
  maxBatch?: number;
  /** After the first record arrives, wait this long for more before writing (bigger transactions). */
  lingerMs?: number;
}

const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING']);
/** How long a fenced writer looks for the owner record of the producer that fenced it. */
const OWNER_WAIT_MS = 15_000;

/** Every protocol error type in a kafkajs error chain (retries wrap the original). */
export function errorTypes(e: unknown, out = new Set<string>(), depth = 0): Set<string> {
  if (depth > 8 || typeof e !== 'object' || e === null) return out;
  const err = e as { type?: unknown; name?: unknown; originalError?: unknown; cause?: unknown; errors?: unknown };
  if (typeof err.type === 'string') out.add(err.type);
  if (typeof err.name === 'string') out.add(err.name);
  errorTypes(err.originalError, out, depth + 1);
  errorTypes(err.cause, out, depth + 1);
  if (Array.isArray(err.errors)) for (const x of err.errors) errorTypes(x, out, depth + 1);
  return out;
}

export function isFencingError(e: unknown): boolean {
  for (const t of errorTypes(e)) if (FENCED.has(t)) return true;
  return /fenced|epoch/i.test(e instanceof Error ? e.message : '');
}

export class TradeWriter {
  readonly instance = `${os.hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  /** Committed id and trade time per symbol index (-1 = nothing committed). */
  committedId = new Float64Array(1024).fill(-1);
  committedTime = new Float64Array(1024).fill(-1);
  /** Kafka answers (the last transaction or recovery succeeded). */
  healthy = false;
  transactions = 0;
  private producer: Producer | undefined;
  private readonly pendingEntries = new Map<number, SymbolEntry>();
  private stopping = false;
  private wake: (() => void) | undefined;
  private readonly maxBatch: number;
  private readonly lingerMs: number;
  private readonly messages: Message[] = [];
  private chunk = Buffer.allocUnsafeSlow(1 << 20);
  private readonly keys: Buffer[] = [];
  private readonly inBatch: Uint8Array = new Uint8Array(65536);
  private readonly batchSymbols: number[] = [];
  private loop: Promise<void> | undefined;
  private fatal: Error | undefined;
  /** Trades dropped at write time because their id was already committed (see writeBatch step 1). */
  skippedCommitted = 0;
  /** Checkpoints of names `symbols` does not know (see applyCheckpoints). */
  unknownCheckpoints = 0;
  /** Records at the head of the buffer that the transaction in flight is writing (0 when none is). */
  inFlight = 0;
  /** Per symbol in the batch being built (inBatch[s] = 1): its last trade id and time so far. */
  private readonly batchLast = new Float64Array(65536);
  private readonly batchLastTime = new Float64Array(65536);

  constructor(private readonly options: TradeWriterOptions) {
    this.maxBatch = options.maxBatch ?? 10_000;
    this.lingerMs = options.lingerMs ?? 5;
  }

  /** A new symbol's entry, written in the next transaction (before its first trade, which follows it). */
  addEntry(e: SymbolEntry): void {
    this.pendingEntries.set(e.index, e);
    this.notify();
  }

  get unpublishedEntries(): number {
    return this.pendingEntries.size;
  }

  /** Steps R1-R3 (after failures); returns the checkpoints read. */
  async initialise(): Promise<Map<string, Checkpoint>> {
    await this.fence();
    return this.readOwnedState();
  }

  /**
   * Step R1: a new client instance initialises the transactional id (InitProducerId: whatever an older
   * instance left open is aborted, and it cannot commit anything more) and commits the owner record. At
   * start this comes before reading `symbols` and `producer-state`, which are final only from then on.
   */
  async fence(): Promise<void> {
    await this.closeProducer();
    const { kafka, topics } = this.options;
    const producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      transactionalId: topics.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: 60_000,
      allowAutoTopicCreation: false,
      // Our own loop retries with backoff; kafkajs only bridges blips (and the CONCURRENT_TRANSACTIONS
      // answers that follow a commit while its markers are written).
      retry: { retries: 6, initialRetryTime: 30, maxRetryTime: 1000 },
    });
    this.producer = producer;
    await producer.connect();
    const owner: OwnerRecord = { instance: this.instance, host: os.hostname(), pid: process.pid, startedAt: new Date().toISOString() };
    const txn = await producer.transaction();
    try {
      await txn.send({ topic: topics.producerState, acks: -1, messages: [{ key: OWNER_KEY, value: encodeOwner(owner), partition: 0 }] });
      await txn.commit();
    } catch (e) {
      await txn.abort().catch(() => undefined);
      throw e;
    }
  }

  /** Steps R2-R3: producer-state to its end; another owner than this instance means we were replaced. */
  async readOwnedState(): Promise<Map<string, Checkpoint>> {
    const { checkpoints, owner: current } = await this.readState();
    if (current !== undefined && current.instance !== this.instance) throw this.fencedBy(current);
    return checkpoints;
  }

  /** Step R2: the committed checkpoints and the current owner. */
  async readState(): Promise<{ checkpoints: Map<string, Checkpoint>; owner: OwnerRecord | undefined }> {
    const { kafka, admin, topics, log } = this.options;
    const checkpoints = new Map<string, Checkpoint>();
    let owner: OwnerRecord | undefined;
    const reader = new TopicReader({
      kafka, admin, topic: topics.producerState, groupPrefix: topics.groupPrefix, log,
      onBatch: (_p, messages) => {
        for (const m of messages) {
          const key = m.key?.toString('utf8') ?? '';
          if (m.value === null) {
            checkpoints.delete(key);
            continue;
          }
          if (key === OWNER_KEY) {
            owner = decodeOwner(m.value) ?? owner;
            continue;
          }
          try {
            checkpoints.set(key, decodeCheckpoint(m.value, key));
          } catch (e) {
            log.error('unreadable producer-state record skipped: that symbol is resumed from the live stream', { key, offset: m.offset, error: e });
          }
        }
      },
    });
    try {
      await reader.start();
    } finally {
      await reader.stop();
    }
    return { checkpoints, owner };
  }

  /** Applies checkpoints to the committed ids (by symbol name through the directory). */
  applyCheckpoints(checkpoints: Map<string, Checkpoint>): void {
    for (const [name, c] of checkpoints) {
      const index = this.options.directory.indexOf(name);
      if (index === undefined) {
        // Cannot happen when `symbols` was read after the fence (every checkpoint's SymbolEntry was committed
        // in the same transaction or before): a damaged or foreign topic. The symbol restarts from its stream.
        this.unknownCheckpoints++;
        this.options.log.error('producer-state names a symbol that `symbols` does not have: its checkpoint is ignored', { symbol: name, lastAggId: c.lastAggId });
        continue;
      }
      this.ensure(index + 1);
      this.committedId[index] = c.lastAggId;
      this.committedTime[index] = c.lastTradeTime;
    }
  }

  /** Starts the write loop; rejects (through `done`) only on a fatal error (fenced by another producer). */
  start(): void {
    this.healthy = true;
    this.loop = this.run();
  }

  get done(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  /** Something was added to the buffer. */
  notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Writes what is buffered (up to `timeoutMs`), then stops. Returns the records left unwritten. */
  /**
   * Waits until everything buffered is written, however long Kafka is away (a file replay must not lose
   * what it read), unless `signal` aborts or the writer failed for good.
   */
  async drain(signal: AbortSignal): Promise<void> {
    while ((this.options.buffer.size > 0 || this.pendingEntries.size > 0) && !signal.aborted && this.fatal === undefined && !this.stopping) {
      this.notify();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Writes what is buffered while Kafka answers (at most `timeoutMs`), then stops. Returns the records
   * left unwritten (live: the next start backfills them from REST).
   */
  async stop(timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while ((this.options.buffer.size > 0 || this.pendingEntries.size > 0) && Date.now() < deadline && this.fatal === undefined) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.stopping = true;
    this.notify();
    await this.loop?.catch(() => undefined);
    await this.closeProducer();
    return this.options.buffer.size;
  }

  private async run(): Promise<void> {
    const { buffer, hooks, log } = this.options;
    let backoff = 200;
    while (!this.stopping) {
      if (!this.healthy) {
        try {
          await this.recover();
          backoff = 200;
        } catch (e) {
          if (e instanceof KlinestreamError && e.code === 'PRODUCER_FENCED') {
            this.fatal = e;
            throw e;
          }
          log.warn('Kafka still unavailable; retrying', { retryInMs: backoff, error: e });
          await this.sleep(backoff * (0.5 + Math.random()));
          backoff = Math.min(backoff * 2, 5000);
          continue;
        }
      }
      if (buffer.size === 0 && this.pendingEntries.size === 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          // Also wake up now and then: stop() polls, and entries may be added without a notify.
          setTimeout(resolve, 100).unref();
        });
        if (this.lingerMs > 0 && buffer.size < this.maxBatch) await this.sleep(this.lingerMs);
        continue;
      }
      try {
        await this.writeBatch();
      } catch (e) {
        const reason = isFencingError(e) ? 'fenced' : 'error';
        hooks.failed(reason, e);
        log.warn('transaction failed; recovering', { reason, error: e, buffered: buffer.size });
        this.healthy = false;
        if (reason === 'fenced') await this.checkOwnerAfterFencing();
      }
    }
  }

  /** Steps 1-4. */
  private async writeBatch(): Promise<void> {
    const { buffer, topics, directory, symbolCodec, tradeWire, hooks } = this.options;
    const producer = this.producer!;
    const started = Date.now();
    const n = Math.min(buffer.size, this.maxBatch);
    // 1. the batch: values encoded back to back into one chunk, messages from a reused pool. A trade at or
    //    below its symbol's committed id is already in the topic (written by an earlier instance of ours
    //    before a takeover, or found committed after an uncertain commit): it is dropped, never written twice.
    let pos = 0;
    let trades = 0;
    let count = 0;
    const messages = this.messages;
    for (let i = 0; i < n; i++) {
      const p = buffer.at(i);
      const trade = buffer.kind[p] === KIND_TRADE;
      if (trade) {
        const s = buffer.symbol[p]!;
        const id = buffer.aggId[p]!;
        if (id <= this.committedIdOf(s) || (this.inBatch[s] === 1 && id <= this.batchLast[s]!)) {
          this.skippedCommitted++;
          continue;
        }
        if (this.inBatch[s] === 0) {
          this.inBatch[s] = 1;
          this.batchSymbols.push(s);
        }
        this.batchLast[s] = id;
        this.batchLastTime[s] = buffer.tradeTime[p]!;
      }
      let end = tradeWire.writeFrom(buffer, p, this.chunk, pos);
      if (end < 0) {
        // Grow into a fresh chunk; the views already taken keep the old one alive until the batch is sent.
        this.chunk = Buffer.allocUnsafeSlow(Math.max(this.chunk.length * 2, -end + pos));
        pos = 0;
        end = tradeWire.writeFrom(buffer, p, this.chunk, 0);
      }
      let m = messages[count];
      if (m === undefined) m = messages[count] = { key: null, value: null, partition: 0 };
      count++;
      m.value = this.chunk.subarray(pos, end);
      m.partition = buffer.partition[p]!;
      pos = end;
      if (trade) {
        m.key = this.keyOf(buffer.symbol[p]!);
        trades++;
      } else {
        m.key = null;
      }
    }
    const tradeMessages = count === messages.length ? messages : messages.slice(0, count);
    // One checkpoint per symbol: the last (highest) id of it in this batch.
    const checkpoints: Message[] = [];
    const last: Array<[number, number, number]> = [];
    for (const s of this.batchSymbols) {
      this.inBatch[s] = 0;
      last.push([s, this.batchLast[s]!, this.batchLastTime[s]!]);
      checkpoints.push({ key: directory.nameOf(s)!, value: encodeCheckpoint(this.batchLast[s]!, this.batchLastTime[s]!), partition: 0 });
    }
    this.batchSymbols.length = 0;
    const entries = [...this.pendingEntries.values()];
    const entryMessages: Message[] = entries.map((e) => ({ key: e.symbol, value: symbolCodec.encode(e), partition: 0 }));
    const topicMessages = [];
    if (entryMessages.length > 0) topicMessages.push({ topic: topics.symbols, messages: entryMessages });
    if (count > 0) topicMessages.push({ topic: topics.trades, messages: tradeMessages });
    if (checkpoints.length > 0) topicMessages.push({ topic: topics.producerState, messages: checkpoints });
    // 2. + 3. The first n records stay in the buffer meanwhile, and a buffer drop keeps them (inFlight).
    this.inFlight = n;
    try {
      const txn = await producer.transaction();
      try {
        await txn.sendBatch({ topicMessages, acks: -1 });
        await txn.commit();
      } catch (e) {
        await txn.abort().catch(() => undefined);
        throw e;
      }
    } finally {
      this.inFlight = 0;
    }
    // 4.
    buffer.drop(n);
    for (const [s, id, time] of last) {
      this.ensure(s + 1);
      this.committedId[s] = id;
      this.committedTime[s] = time;
    }
    for (const e of entries) if (this.pendingEntries.get(e.index) === e) this.pendingEntries.delete(e.index);
    this.transactions++;
    hooks.committed(n, trades, Date.now() - started);
  }

  /** R1-R4. */
  private async recover(): Promise<void> {
    const { buffer, hooks, log } = this.options;
    const checkpoints = await this.initialise();
    this.applyCheckpoints(checkpoints);
    const dropped = buffer.retain((p) => buffer.kind[p] !== KIND_TRADE || buffer.aggId[p]! > this.committedIdOf(buffer.symbol[p]!));
    this.healthy = true;
    log.info('Kafka answers again; writing resumes', { buffered: buffer.size, committedAfterAll: dropped });
    hooks.recovered(dropped);
  }

  private async checkOwnerAfterFencing(): Promise<void> {
    // Give a newer producer the time to commit its owner record before we look. A plain timer: this.sleep()
    // ends at the next notify() (every frame), and looking too early means recovering, which fences the
    // newer producer in turn.
    // A newer producer commits its owner record right after it fenced us, but on a loaded machine that can
    // take seconds: look for it for a while before concluding the fence came from elsewhere (a transaction
    // timeout), because recovering would fence the newer producer in turn.
    const deadline = Date.now() + OWNER_WAIT_MS;
    do {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      try {
        const { owner } = await this.readState();
        if (owner !== undefined && owner.instance !== this.instance) {
          this.fatal = this.fencedBy(owner);
          this.stopping = true;
          throw this.fatal;
        }
      } catch (e) {
        if (e === this.fatal) throw e;
        // Cannot tell yet (Kafka away): look again, then let recovery (which re-checks the owner) decide.
      }
    } while (Date.now() < deadline);
  }

  private fencedBy(owner: OwnerRecord): KlinestreamError {
    return new KlinestreamError(
      'PRODUCER_FENCED',
      `another producer took over the topics (instance ${owner.instance}, pid ${owner.pid} on ${owner.host}, since ${owner.startedAt}); this one stops so that two producers never interleave`,
      { owner },
    );
  }

  committedIdOf(symbol: number): number {
    return symbol < this.committedId.length ? this.committedId[symbol]! : -1;
  }

  committedTimeOf(symbol: number): number {
    return symbol < this.committedTime.length ? this.committedTime[symbol]! : -1;
  }

  private keyOf(symbol: number): Buffer {
    let k = this.keys[symbol];
    if (k === undefined) {
      k = Buffer.alloc(4);
      k.writeInt32BE(symbol, 0);
      this.keys[symbol] = k;
    }
    return k;
  }

  private ensure(n: number): void {
    if (n <= this.committedId.length) return;
    const size = Math.max(n, this.committedId.length * 2);
    const a = new Float64Array(size).fill(-1);
    a.set(this.committedId);
    this.committedId = a;
    const b = new Float64Array(size).fill(-1);
    b.set(this.committedTime);
    this.committedTime = b;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      // stop() must not wait for a backoff.
      const prev = this.wake;
      this.wake = () => {
        clearTimeout(t);
        prev?.();
        resolve();
      };
    });
  }

  private async closeProducer(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    if (p !== undefined) await p.disconnect().catch(() => undefined);
  }
}
