/**
 * A pool of WebSocket connections carrying the exchange's `<symbol>@aggTrade` streams.
 *
 * Shape: the symbols are split into slots of at most `streamsPerConnection`; each slot has one current
 * connection (and, during a planned replacement, a second one). Every WebSocket gets a fresh connection id,
 * so a reconnect is `closed(old, ..., planned=false)` followed by `open(new, ..., undefined)`, and a planned
 * replacement is `open(new, ..., replacing=old)` followed by `closed(old, ..., planned=true)`.
 *
 * - URL: `${wsBaseUrl}${combinedStreamPath}?streams=btcusdt@aggTrade/ethusdt@aggTrade` (lowercase names).
 * - Frames: passed on as received (Buffer, `binaryType = 'nodebuffer'`, ws joins fragments), synchronously
 *   from the socket's message event, stamped with Date.now(). Every socket is independent: no await and no
 *   shared queue in the frame path, so a slow or dead connection never holds up the others. A frame that
 *   starts with `{"s` (a combined-stream payload) costs one byte compare beyond that; any other JSON object
 *   frame is also looked at for a subscription reply: an error reply is logged as a warning, then passed on.
 * - Liveness: ws answers the server's pings itself (autoPong). We send our own ping every `pingIntervalMs`;
 *   a connection without any frame or pong for `deadAfterMs` is terminated and reconnected (reason `dead`).
 *   `alive` is called on pongs and server pings; a frame is itself proof of life (`frame` carries its time).
 * - Reconnects: full-jitter exponential backoff, delay = random * min(maxMs, initialMs * 2^attempt)
 *   (defaults 500 ms and 30 s); the first connection of a slot is immediate; `attempt` goes back to 0 once a
 *   connection opened and delivered stream data (a frame of its streams), or stayed open for `resetAfterMs`
 *   (default 1 s: a quiet stream delivers nothing): an exchange that cuts every few seconds costs one short
 *   delay per cut, not a delay that climbs to 30 s. A server that accepts and closes at once still backs
 *   off. Counted by reason:
 *   closed, error, dead, frame_too_large, connect_failed, lifetime, replacement_failed.
 * - Connection ids: `connectionIds.first`, then every `connectionIds.step` (default 1, 1): two pools (two
 *   feeds of the same symbols) number their connections apart.
 * - Planned replacement after `lifetimeMs` (minus up to 2 % jitter so connections opened together do not all
 *   reconnect at once): a new connection with the same streams is opened first; once it is open we emit
 *   `open(new, symbols, old)`; the old one is closed (`closed(old, symbols, planned=true)`) as soon as the new
 *   one has delivered its first frame, or has been open for `overlapMs` (default 3 s) without one (a quiet
 *   market). The overlap duplicates frames; the caller drops duplicates by aggregate id. If the new one fails
 *   to open, the old one stays and the replacement is retried after a backoff delay.
 * - Subscriptions: `setSymbols` fills slots with room through SUBSCRIBE (and removes through UNSUBSCRIBE),
 *   new slots get new connections. Outgoing messages (SUBSCRIBE / UNSUBSCRIBE and our pings) go through a
 *   per-connection sliding window of at most `messagesPerSecond` (default 5, well under the exchange's 10
 *   incoming messages per second); each SUBSCRIBE carries up to ~4 KB of stream names.
 * - A frame larger than `maxFrameBytes` (ws `maxPayload`, default 1 MiB): ws closes that connection with
 *   1009; it is logged, counted (`frame_too_large`) and reconnected. The process is never affected.
 * - `close()`: no further events, every timer cleared, every socket closed (terminated if the close
 *   handshake does not finish within 1 s); resolves once all sockets are gone.
 */
import WebSocket from 'ws';
import type { Logger } from '../observability/log';

export interface StreamEvents {
  /** One text frame as received; `receivedAt` = Date.now() at receipt. Called synchronously from the socket's message event. */
  frame(connection: number, data: Buffer, receivedAt: number): void;
  /** A connection is open and subscribed to `symbols`. `replacing` = id of the connection it replaces (planned replacement), else undefined. */
  open(connection: number, symbols: readonly string[], replacing: number | undefined): void;
  /**
   * A connection closed. `planned` = it was replaced by one that opened before it closed (no gap possible),
   * or it carried no symbols any more (`symbols` is then empty).
   */
  closed(connection: number, symbols: readonly string[], planned: boolean, reason: string): void;
  /** Proof of life: a pong (or any frame) at `at` (local ms). */
  alive(connection: number, at: number): void;
}

export interface StreamPoolMetrics {
  reconnects(reason: string): void;
  /** Open connections, after every change. */
  connections(n: number): void;
}

export interface BinanceStreamPoolOptions {
  wsBaseUrl: string;
  combinedStreamPath: string;
  streamsPerConnection: number;
  lifetimeMs: number;
  /** Our own ping; default 10 s. */
  pingIntervalMs?: number;
  /** No frame and no pong for this long = dead; default 30 s. */
  deadAfterMs?: number;
  /** Reconnect backoff; `resetAfterMs` (default 1 s): open this long (or any stream data) and the backoff starts over. */
  backoff?: { initialMs: number; maxMs: number; resetAfterMs?: number };
  /** ws maxPayload; default 1 MiB. */
  maxFrameBytes?: number;
  /** Planned replacement: close the old connection at the latest this long after the new one opened; default 3 s. */
  overlapMs?: number;
  /** Outgoing messages per connection per second (SUBSCRIBE, UNSUBSCRIBE, our pings); default 5. */
  messagesPerSecond?: number;
  /** WebSocket opening handshake timeout; default 10 s. */
  handshakeTimeoutMs?: number;
  /** Random source for the backoff jitter, [0, 1); default Math.random. */
  random?: () => number;
  /** Ids of this pool's connections: first, first + step, ... Default { first: 1, step: 1 }. */
  connectionIds?: { first: number; step: number };
  log: Logger;
  events: StreamEvents;
  metrics?: StreamPoolMetrics;
}

type SocketState = 'connecting' | 'open' | 'closed';

interface Sock {
  readonly id: number;
  readonly slot: Slot;
  readonly ws: WebSocket;
  state: SocketState;
  /** Whether `open` was emitted for it (then `closed` will be, unless the pool is closed). */
  announced: boolean;
  /** Streams this socket has, or has been asked to have (URL + SUBSCRIBE - UNSUBSCRIBE sent or queued). */
  readonly subscribed: Set<string>;
  openedAt: number | undefined;
  frames: number;
  /** Frames of its streams (combined-stream payloads, not replies): proof that the connection works. */
  streamFrames: number;
  lastAlive: number;
  lastPingAt: number;
  /** Times of the last outgoing messages, for the per-second window. */
  readonly sent: number[];
  readonly outbox: Array<{ kind: 'json'; text: string; id: number; method: string; count: number } | { kind: 'ping' }>;
  /** Request id -> what it was, until the reply. */
  readonly pending: Map<number, { method: string; count: number }>;
  /** Why it failed, when we know better than the close code (error, frame too large). */
  failure: { key: string; text: string } | undefined;
  tick: NodeJS.Timeout | undefined;
  sendTimer: NodeJS.Timeout | undefined;
  lifetimeTimer: NodeJS.Timeout | undefined;
  overlapTimer: NodeJS.Timeout | undefined;
}

interface Slot {
  symbols: string[];
  current: Sock | undefined;
  /** The replacement being opened (planned) while `current` still runs. */
  next: Sock | undefined;
  attempt: number;
  replaceAttempt: number;
  reconnectTimer: NodeJS.Timeout | undefined;
  replaceTimer: NodeJS.Timeout | undefined;
  lastId: number | undefined;
  removed: boolean;
}

const DEFAULT_PING_MS = 10_000;
const DEFAULT_DEAD_MS = 30_000;
const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 };
const DEFAULT_RESET_AFTER_MS = 1000;
const DEFAULT_MAX_FRAME = 1024 * 1024;
const DEFAULT_OVERLAP_MS = 3000;
const DEFAULT_MESSAGES_PER_SECOND = 5;
const MAX_MESSAGE_BYTES = 4000;
const LIFETIME_JITTER = 0.02;
const CLOSE_GRACE_MS = 1000;
const REPLY_INSPECT_MAX_BYTES = 64 * 1024;
const SUFFIX = '@aggTrade';

export class BinanceStreamPool {
  private readonly o: Required<Omit<BinanceStreamPoolOptions, 'metrics' | 'backoff' | 'connectionIds'>> & {
    metrics: StreamPoolMetrics | undefined;
    backoff: { initialMs: number; maxMs: number; resetAfterMs: number };
  };
  private readonly slots: Slot[] = [];
  private readonly live = new Set<WebSocket>();
  private nextSocketId: number;
  private readonly idStep: number;
  private nextRequestId = 1;
  private closing = false;
  private openCount = 0;

  constructor(options: BinanceStreamPoolOptions) {
    if (!Number.isInteger(options.streamsPerConnection) || options.streamsPerConnection < 1) {
      throw new RangeError(`streamsPerConnection must be a positive integer, got ${options.streamsPerConnection}`);
    }
    if (!(options.lifetimeMs > 0)) throw new RangeError(`lifetimeMs must be > 0, got ${options.lifetimeMs}`);
    const ids = options.connectionIds ?? { first: 1, step: 1 };
    if (!(Number.isSafeInteger(ids.first) && ids.first >= 1 && Number.isSafeInteger(ids.step) && ids.step >= 1)) {
      throw new RangeError(`connectionIds must be positive integers, got ${JSON.stringify(ids)}`);
    }
    this.nextSocketId = ids.first;
    this.idStep = ids.step;
    this.o = {
      wsBaseUrl: options.wsBaseUrl.replace(/\/+$/, ''),
      combinedStreamPath: options.combinedStreamPath,
      streamsPerConnection: options.streamsPerConnection,
      lifetimeMs: options.lifetimeMs,
      pingIntervalMs: options.pingIntervalMs ?? DEFAULT_PING_MS,
      deadAfterMs: options.deadAfterMs ?? DEFAULT_DEAD_MS,
      backoff: {
        initialMs: options.backoff?.initialMs ?? DEFAULT_BACKOFF.initialMs,
        maxMs: options.backoff?.maxMs ?? DEFAULT_BACKOFF.maxMs,
        resetAfterMs: options.backoff?.resetAfterMs ?? DEFAULT_RESET_AFTER_MS,
      },
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME,
      overlapMs: options.overlapMs ?? DEFAULT_OVERLAP_MS,
      messagesPerSecond: options.messagesPerSecond ?? DEFAULT_MESSAGES_PER_SECOND,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
      random: options.random ?? Math.random,
      log: options.log,
      events: options.events,
      metrics: options.metrics,
    };
  }

  /**
   * The symbols to stream (uppercase exchange names). Adds/removes streams: new symbols go into connections
   * with room via SUBSCRIBE (rate-limited per connection) or into new connections; removed ones via
   * UNSUBSCRIBE; a connection left without symbols is closed.
   */
  setSymbols(symbols: readonly string[]): void {
    if (this.closing) return;
    const want = new Set<string>();
    for (const s of symbols) {
      if (typeof s !== 'string' || s === '') throw new TypeError(`symbol names must be non-empty strings, got ${JSON.stringify(s)}`);
      want.add(s);
    }
    const changed = new Set<Slot>();
    const assigned = new Set<string>();
    for (const slot of this.slots) {
      const kept = slot.symbols.filter((s) => want.has(s));
      if (kept.length !== slot.symbols.length) changed.add(slot);
      slot.symbols = kept;
      for (const s of kept) assigned.add(s);
    }
    const toAdd = [...want].filter((s) => !assigned.has(s));
    let i = 0;
    for (const slot of this.slots) {
      while (i < toAdd.length && slot.symbols.length < this.o.streamsPerConnection && slot.symbols.length > 0) {
        slot.symbols.push(toAdd[i++]!);
        changed.add(slot);
      }
    }
    const fresh: Slot[] = [];
    while (i < toAdd.length) {
      const slot: Slot = {
        symbols: toAdd.slice(i, i + this.o.streamsPerConnection),
        current: undefined, next: undefined, attempt: 0, replaceAttempt: 0,
        reconnectTimer: undefined, replaceTimer: undefined, lastId: undefined, removed: false,
      };
      i += slot.symbols.length;
      this.slots.push(slot);
      fresh.push(slot);
    }
    for (const slot of changed) {
      if (slot.symbols.length === 0) this.removeSlot(slot);
      else {
        if (slot.current) this.reconcile(slot.current);
        if (slot.next) this.reconcile(slot.next);
      }
    }
    for (const slot of fresh) this.connect(slot, 'current');
  }

  /** Connection id -> symbols, and state, for status/metrics. A slot waiting to reconnect shows its last id as closed. */
  describe(): Array<{ id: number; symbols: readonly string[]; state: 'connecting' | 'open' | 'closed'; openedAt: number | undefined; framesReceived: number }> {
    const out: Array<{ id: number; symbols: readonly string[]; state: SocketState; openedAt: number | undefined; framesReceived: number }> = [];
    for (const slot of this.slots) {
      for (const s of [slot.current, slot.next]) {
        if (s) out.push({ id: s.id, symbols: s.state === 'open' ? [...s.subscribed] : [...slot.symbols], state: s.state, openedAt: s.openedAt, framesReceived: s.frames });
      }
      if (!slot.current && !slot.next && slot.lastId !== undefined) {
        out.push({ id: slot.lastId, symbols: [...slot.symbols], state: 'closed', openedAt: undefined, framesReceived: 0 });
      }
    }
    return out;
  }

  /** Closes everything; no events after this; resolves when every socket is gone and every timer cleared. */
  async close(): Promise<void> {
    this.closing = true;
    for (const slot of this.slots.splice(0)) {
      clearTimer(slot.reconnectTimer);
      clearTimer(slot.replaceTimer);
      slot.reconnectTimer = undefined;
      slot.replaceTimer = undefined;
      for (const s of [slot.current, slot.next]) if (s) this.retire(s, undefined);
      slot.current = undefined;
      slot.next = undefined;
    }
    const waits = [...this.live].map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          const t = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
          ws.once('close', () => {
            clearTimeout(t);
            resolve();
          });
        }),
    );
    await Promise.all(waits);
    this.setOpenCount();
  }

  // ---------------------------------------------------------------------------------------------------------

  private url(symbols: readonly string[]): string {
    const streams = symbols.map((s) => `${s.toLowerCase()}${SUFFIX}`).join('/');
    return `${this.o.wsBaseUrl}${this.o.combinedStreamPath}?streams=${streams}`;
  }

  private connect(slot: Slot, role: 'current' | 'next'): void {
    if (this.closing || slot.removed) return;
    const id = this.nextSocketId;
    this.nextSocketId += this.idStep;
    const url = this.url(slot.symbols);
    const ws = new WebSocket(url, { maxPayload: this.o.maxFrameBytes, perMessageDeflate: false, handshakeTimeout: this.o.handshakeTimeoutMs });
    ws.binaryType = 'nodebuffer';
    const sock: Sock = {
      id, slot, ws, state: 'connecting', announced: false, subscribed: new Set(slot.symbols), openedAt: undefined, frames: 0, streamFrames: 0,
      lastAlive: 0, lastPingAt: 0, sent: [], outbox: [], pending: new Map(), failure: undefined,
      tick: undefined, sendTimer: undefined, lifetimeTimer: undefined, overlapTimer: undefined,
    };
    this.live.add(ws);
    if (role === 'current') slot.current = sock;
    else slot.next = sock;
    slot.lastId = id;
    this.o.log.debug('exchange stream connecting', { connection: id, streams: slot.symbols.length, role });

    ws.on('open', () => this.onOpen(sock));
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(sock, data, isBinary));
    ws.on('pong', () => this.onAlive(sock));
    ws.on('ping', () => this.onAlive(sock));
    ws.on('error', (err: Error & { code?: string }) => {
      if (sock.state === 'closed') return;
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        // ws has sent close 1009 and drops the rest of the input; reconnect now rather than wait for the
        // close handshake (the socket stays in `live` until it is gone).
        this.o.log.error('exchange stream frame too large: reconnecting', { connection: id, maxFrameBytes: this.o.maxFrameBytes, error: err });
        this.ended(sock, 'frame_too_large', `frame larger than ${this.o.maxFrameBytes} bytes (closed with 1009)`);
      } else {
        sock.failure = { key: sock.state === 'connecting' ? 'connect_failed' : 'error', text: err.message };
        this.o.log.warn('exchange stream error', { connection: id, state: sock.state, error: err });
      }
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.live.delete(ws);
      if (sock.state === 'closed') return;
      const text = sock.failure?.text ?? `closed by peer (code ${code}${reason.length ? `, ${reason.toString('utf8').slice(0, 120)}` : ''})`;
      const key = sock.failure?.key ?? (sock.state === 'connecting' ? 'connect_failed' : 'closed');
      this.ended(sock, key, text);
    });
  }

  private onOpen(sock: Sock): void {
    if (sock.state !== 'connecting') return;
    const slot = sock.slot;
    const now = Date.now();
    sock.state = 'open';
    sock.openedAt = now;
    sock.lastAlive = now;
    sock.lastPingAt = now;
    // Streams removed while it was connecting are not announced; reconcile() unsubscribes them below.
    const symbols = slot.symbols.filter((s) => sock.subscribed.has(s));
    const tickMs = Math.max(5, Math.min(this.o.pingIntervalMs, Math.floor(this.o.deadAfterMs / 3)));
    sock.tick = setInterval(() => this.onTick(sock), tickMs);
    this.setOpenCount();

    let replacing: number | undefined;
    if (slot.next === sock) {
      if (slot.current && slot.current.state === 'open') {
        replacing = slot.current.id;
        sock.overlapTimer = setTimeout(() => this.finishReplacement(slot), this.o.overlapMs);
      } else {
        // The old one died while this one was connecting: this one simply takes over.
        slot.current = sock;
        slot.next = undefined;
        this.startLifetime(sock);
      }
    } else {
      this.startLifetime(sock);
    }
    sock.announced = true;
    this.o.log.info('exchange stream open', { connection: sock.id, streams: symbols.length, replacing });
    this.safe(() => this.o.events.open(sock.id, symbols, replacing), 'open');
    this.reconcile(sock);
  }

  private onMessage(sock: Sock, data: Buffer, isBinary: boolean): void {
    if (sock.state !== 'open') return;
    const at = Date.now();
    sock.frames++;
    sock.lastAlive = at;
    try {
      this.o.events.frame(sock.id, data, at);
    } catch (e) {
      this.o.log.error('exchange stream frame handler threw', { connection: sock.id, error: e });
    }
    // Combined-stream payloads start with {"stream": anything else that is a JSON object may be a reply.
    if (!isBinary && data.length > 2 && data[0] === 0x7b && data[2] === 0x73) sock.streamFrames++;
    else if (!isBinary && data.length > 2 && data.length <= REPLY_INSPECT_MAX_BYTES && data[0] === 0x7b) this.inspectReply(sock, data);
    if (sock.frames === 1 && sock.slot.next === sock && sock.overlapTimer !== undefined) this.finishReplacement(sock.slot);
  }

  private inspectReply(sock: Sock, data: Buffer): void {
    let reply: unknown;
    try {
      reply = JSON.parse(data.toString('utf8'));
    } catch {
      return;
    }
    if (typeof reply !== 'object' || reply === null || Array.isArray(reply)) return;
    const r = reply as { id?: unknown; result?: unknown; error?: unknown };
    if (r.id === undefined || (r.result === undefined && r.error === undefined)) return;
    const request = typeof r.id === 'number' ? sock.pending.get(r.id) : undefined;
    if (typeof r.id === 'number') sock.pending.delete(r.id);
    if (r.error !== undefined) {
      this.o.log.warn('exchange stream error reply', { connection: sock.id, id: r.id, method: request?.method, streams: request?.count, error: r.error });
    } else {
      this.o.log.debug('exchange stream reply', { connection: sock.id, id: r.id, method: request?.method, result: r.result });
    }
  }

  private onAlive(sock: Sock): void {
    if (sock.state !== 'open') return;
    const at = Date.now();
    sock.lastAlive = at;
    this.safe(() => this.o.events.alive(sock.id, at), 'alive');
  }

  private onTick(sock: Sock): void {
    if (sock.state !== 'open') return;
    const now = Date.now();
    if (now - sock.lastAlive > this.o.deadAfterMs) {
      const text = `dead: no frame or pong for ${now - sock.lastAlive} ms`;
      this.o.log.warn('exchange stream dead: reconnecting', { connection: sock.id, silentMs: now - sock.lastAlive });
      this.ended(sock, 'dead', text);
      sock.ws.terminate();
      return;
    }
    if (now - sock.lastPingAt >= this.o.pingIntervalMs && !sock.outbox.some((m) => m.kind === 'ping')) {
      sock.lastPingAt = now;
      sock.outbox.push({ kind: 'ping' });
      this.flush(sock);
    }
  }

  /** Queues SUBSCRIBE / UNSUBSCRIBE so that the socket carries exactly its slot's symbols. */
  private reconcile(sock: Sock): void {
    if (sock.state !== 'open') return; // a connecting socket is reconciled when it opens
    const want = new Set(sock.slot.symbols);
    const remove = [...sock.subscribed].filter((s) => !want.has(s));
    const add = sock.slot.symbols.filter((s) => !sock.subscribed.has(s));
    for (const s of remove) sock.subscribed.delete(s);
    for (const s of add) sock.subscribed.add(s);
    this.enqueue(sock, 'UNSUBSCRIBE', remove);
    this.enqueue(sock, 'SUBSCRIBE', add);
    this.flush(sock);
  }

  private enqueue(sock: Sock, method: string, symbols: string[]): void {
    let batch: string[] = [];
    let bytes = 0;
    const push = (): void => {
      if (batch.length === 0) return;
      const id = this.nextRequestId++;
      sock.outbox.push({ kind: 'json', text: JSON.stringify({ method, params: batch, id }), id, method, count: batch.length });
      batch = [];
      bytes = 0;
    };
    for (const s of symbols) {
      const stream = `${s.toLowerCase()}${SUFFIX}`;
      if (bytes + stream.length + 3 > MAX_MESSAGE_BYTES - 60) push();
      batch.push(stream);
      bytes += stream.length + 3;
    }
    push();
  }

  /** Sends what the per-second window allows now; schedules the rest. */
  private flush(sock: Sock): void {
    if (sock.state !== 'open' || sock.sendTimer !== undefined) return;
    const limit = this.o.messagesPerSecond;
    while (sock.outbox.length > 0) {
      const now = Date.now();
      while (sock.sent.length > 0 && now - sock.sent[0]! >= 1000) sock.sent.shift();
      if (sock.sent.length >= limit) {
        sock.sendTimer = setTimeout(() => {
          sock.sendTimer = undefined;
          this.flush(sock);
        }, 1000 - (now - sock.sent[0]!) + 1);
        return;
      }
      const m = sock.outbox.shift()!;
      sock.sent.push(now);
      if (m.kind === 'ping') {
        sock.ws.ping();
      } else {
        sock.pending.set(m.id, { method: m.method, count: m.count });
        this.o.log.info('exchange stream request', { connection: sock.id, method: m.method, streams: m.count, id: m.id });
        sock.ws.send(m.text);
      }
    }
  }

  private startLifetime(sock: Sock): void {
    const ms = Math.max(1, Math.round(this.o.lifetimeMs * (1 - LIFETIME_JITTER * this.o.random())));
    clearTimer(sock.lifetimeTimer);
    sock.lifetimeTimer = setTimeout(() => {
      sock.lifetimeTimer = undefined;
      this.startReplacement(sock.slot);
    }, ms);
  }

  private startReplacement(slot: Slot): void {
    slot.replaceTimer = undefined;
    if (this.closing || slot.removed || slot.next || !slot.current || slot.current.state !== 'open') return;
    this.o.metrics?.reconnects('lifetime');
    this.o.log.info('exchange stream planned replacement', { connection: slot.current.id, openForMs: Date.now() - (slot.current.openedAt ?? Date.now()) });
    this.connect(slot, 'next');
  }

  /** The new connection has delivered (or been open long enough): the old one goes. */
  private finishReplacement(slot: Slot): void {
    const nw = slot.next;
    const old = slot.current;
    if (!nw || nw.state !== 'open') return;
    clearTimer(nw.overlapTimer);
    nw.overlapTimer = undefined;
    slot.current = nw;
    slot.next = undefined;
    slot.replaceAttempt = 0;
    this.startLifetime(nw);
    if (old) this.retire(old, { planned: true, reason: `replaced by connection ${nw.id}` });
  }

  /** A socket ended on its own (peer close, error, dead). */
  private ended(sock: Sock, key: string, text: string): void {
    if (sock.state === 'closed') return;
    const wasOpen = sock.state === 'open';
    const slot = sock.slot;
    this.stopSocket(sock);
    if (this.closing || slot.removed) return;
    const now = Date.now();
    // A connection that worked (it delivered its streams' data) starts the backoff over.
    if (wasOpen && sock.openedAt !== undefined && (sock.streamFrames > 0 || now - sock.openedAt >= this.o.backoff.resetAfterMs)) slot.attempt = 0;

    if (slot.current === sock) {
      slot.current = undefined;
      const next = slot.next;
      const covered = next !== undefined && next.state === 'open';
      if (wasOpen) this.emitClosed(sock, covered, covered ? `${text}; replacement ${next!.id} already open` : text);
      if (covered) {
        // Overlap phase: the replacement already carries every stream.
        slot.current = next;
        slot.next = undefined;
        clearTimer(next!.overlapTimer);
        next!.overlapTimer = undefined;
        this.startLifetime(next!);
        return;
      }
      if (next) return; // a replacement is connecting: it takes over when it opens, or reconnect() on failure
      this.reconnect(slot, key, text);
      return;
    }
    if (slot.next === sock) {
      slot.next = undefined;
      if (wasOpen) this.emitClosed(sock, false, text);
      if (!slot.current) {
        this.reconnect(slot, key, text);
        return;
      }
      this.o.metrics?.reconnects('replacement_failed');
      const delay = this.delay(slot.replaceAttempt++);
      this.o.log.warn('exchange stream replacement failed: keeping the old connection', { connection: sock.id, old: slot.current.id, problem: text, retryInMs: delay });
      slot.replaceTimer = setTimeout(() => this.startReplacement(slot), delay);
    }
  }

  private reconnect(slot: Slot, key: string, text: string): void {
    this.o.metrics?.reconnects(key);
    const delay = this.delay(slot.attempt++);
    this.o.log.warn('exchange stream reconnecting', { connection: slot.lastId, reason: key, problem: text, attempt: slot.attempt, retryInMs: delay });
    clearTimer(slot.reconnectTimer);
    slot.reconnectTimer = setTimeout(() => {
      slot.reconnectTimer = undefined;
      this.connect(slot, 'current');
    }, delay);
  }

  private delay(attempt: number): number {
    const cap = Math.min(this.o.backoff.maxMs, this.o.backoff.initialMs * 2 ** Math.min(attempt, 30));
    return Math.floor(this.o.random() * cap);
  }

  /** We close it: emits `closed` if it was announced and `info` is given; the socket's own close event is ignored. */
  private retire(sock: Sock, info: { planned: boolean; reason: string } | undefined): void {
    if (sock.state === 'closed') return;
    const announced = sock.announced;
    const wasOpen = sock.state === 'open';
    this.stopSocket(sock);
    if (info && announced) this.emitClosed(sock, info.planned, info.reason);
    if (wasOpen) sock.ws.close(1000);
    else sock.ws.terminate();
  }

  private stopSocket(sock: Sock): void {
    sock.state = 'closed';
    clearTimer(sock.tick);
    clearTimer(sock.sendTimer);
    clearTimer(sock.lifetimeTimer);
    clearTimer(sock.overlapTimer);
    sock.tick = sock.sendTimer = sock.lifetimeTimer = sock.overlapTimer = undefined;
    sock.outbox.length = 0;
    sock.pending.clear();
    this.setOpenCount();
  }

  private emitClosed(sock: Sock, planned: boolean, reason: string): void {
    if (!sock.announced || this.closing) return;
    sock.announced = false;
    const symbols = [...sock.subscribed];
    this.o.log.info('exchange stream closed', { connection: sock.id, streams: symbols.length, planned, reason });
    this.safe(() => this.o.events.closed(sock.id, symbols, planned, reason), 'closed');
  }

  private removeSlot(slot: Slot): void {
    slot.removed = true;
    clearTimer(slot.reconnectTimer);
    clearTimer(slot.replaceTimer);
    slot.reconnectTimer = slot.replaceTimer = undefined;
    for (const s of [slot.current, slot.next]) {
      if (!s) continue;
      s.subscribed.clear();
      this.retire(s, { planned: true, reason: 'no symbols left' });
    }
    slot.current = slot.next = undefined;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
  }

  private setOpenCount(): void {
    let n = 0;
    for (const slot of this.slots) for (const s of [slot.current, slot.next]) if (s && s.state === 'open') n++;
    if (n !== this.openCount) {
      this.openCount = n;
      this.o.metrics?.connections(n);
    }
  }

  private safe(f: () => void, what: string): void {
    try {
      f();
    } catch (e) {
      this.o.log.error(`exchange stream ${what} handler threw`, { error: e });
    }
  }
}

function clearTimer(t: NodeJS.Timeout | undefined): void {
  if (t !== undefined) clearTimeout(t);
}
