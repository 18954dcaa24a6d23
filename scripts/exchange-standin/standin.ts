/**
 * A local stand-in for Binance market data (USD-M futures or spot), for tests: one HTTP server on
 * 127.0.0.1 that is both the WebSocket stream endpoint (package `ws`) and the REST API, serving REAL
 * recorded aggTrade frames from a timeline, with scripted trouble.
 *
 * What it shares with the exchange, because the producer depends on it:
 * - It never replays. A trade is released once, at its place on the timeline; only connections subscribed
 *   at that moment get its frame. A connection opened mid-timeline sees later frames only.
 * - REST has the history: every released trade (withheld-on-WS ones included) is in aggTrades; trades not
 *   released yet do not exist.
 * - The exchange's clock is the timeline: `serverTime` (exchangeInfo, /time) is the playback position, so
 *   frame times, REST times and server time agree however the data was shifted.
 *
 * WebSocket: USD-M `/market/stream?streams=a@aggTrade/b@aggTrade` (combined: {"stream","data"}) and
 * `/market/ws[/<stream>[/<stream>...]]` (bare payloads); spot the same without `/market`. Anything else:
 * HTTP 404 on upgrade. Stream names are matched exactly (`<lowercase symbol>@aggTrade`); unknown names are
 * accepted and get nothing. Live SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY combined /
 * GET_PROPERTY combined; replies `{"result":null,"id":1}`, errors `{"error":{"code":2,"msg":..},"id":1}`.
 * Limits: more than `maxIncomingPerSecond` incoming messages (text messages and client pings; pongs are not
 * counted) within one second closes the connection with 1008 "Too many messages"; more than
 * `maxStreamsPerConnection` streams: HTTP 400 on upgrade, or an error reply to the SUBSCRIBE that would go
 * over (the connection stays). The server pings every `pingIntervalMs`; no pong within `pongTimeoutMs` of
 * an unanswered ping: terminated (no close frame). After `maxConnectionAgeMs` a connection is closed (1001).
 * Binary messages are ignored (counted as incoming).
 *
 * REST (same port): `${prefix}/exchangeInfo`, `${prefix}/aggTrades`, `${prefix}/klines`, `${prefix}/ping`,
 * `${prefix}/time` with prefix `/fapi/v1` (USD-M) or `/api/v3` (spot); see ./rest.ts for weights, 429/418
 * and aggTrades semantics, ./klines.ts for klines (built from the released trades, or the bundled ones of
 * `bundledKlines`; `trouble.disagreeKlines` adds a trade never sent). Every request is logged (`requests()`).
 *
 * Control (not logged, no weight), for a stand-in in another process: GET /__standin/{expected,stats,
 * connections,requests}, POST /__standin/play, /__standin/advance?n=N|to=MS, /__standin/cut?mode=abrupt|clean
 * [&id=N], /__standin/stall?id=N&ms=MS, /__standin/garbage?kind=K[&id=N], /__standin/hold-rest[?endpoint=E],
 * /__standin/release-rest.
 *
 * Held REST (holdRest / releaseRest): while a hold is on, matching REST requests are accepted but not
 * answered; releaseRest() answers them, in arrival order, as if they had just arrived (weight, scripted
 * failures and the history are those of the release moment). How a test keeps a backfill waiting for a
 * measurable time without failing it.
 *
 * Playback: steps (trades, scripted cuts, garbage) in timeline order; a number speed releases a step when
 * the wall clock since play() times the speed reaches its time; 'max' releases `maxBatch` steps per
 * event-loop turn; 'manual' only on advance() / advanceTo(). `finished` resolves once every step is out
 * (it stays pending if the stand-in is closed first).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { DEFAULT_OVERSIZE_BYTES, renderGarbage } from './garbage';
import { defaultOnboardDate, exchangeInfoBody, resolveSymbol, type ResolvedSymbol } from './exchange-info';
import {
  GARBAGE_KINDS,
  type CutMode,
  type CutTarget,
  type ExchangeStandinOptions,
  type GarbageKind,
  type Market,
  type RestEndpoint,
  type RestFailure,
  type Speed,
  type SymbolInfo,
} from './options';
import { KlineBook, klinesAnswer, klineTrades, klinesWeight, loadBundledKlines, type BundledKlines } from './klines';
import { aggTradesAnswer, failureAnswer, FailurePlan, jsonError, limitAnswer, WeightLimiter, type HttpAnswer } from './rest';
import { pick, seededRng, type Rng } from './rng';
import { loadTimeline, type FileSummary, type LoadedTrade, type StandinTrade, type Timeline } from './timeline';

export type CloseReason = 'client' | 'cut-abrupt' | 'cut-clean' | 'too-many-messages' | 'pong-timeout' | 'max-age' | 'standin-closed';

export interface ConnectionRecord {
  id: number;
  /** Request path and query as connected, e.g. `/market/stream?streams=btcusdt@aggTrade`. */
  url: string;
  /** Frames are wrapped as {"stream","data"}. */
  combined: boolean;
  open: boolean;
  /** Wall-clock epoch ms. */
  openedAt: number;
  closedAt: number | undefined;
  /** Current subscriptions (at close: those it had). */
  streams: string[];
  /** Trade frames sent (a duplicate counts twice). */
  framesSent: number;
  duplicatesSent: number;
  garbageSent: number;
  /** Replies to SUBSCRIBE etc. */
  repliesSent: number;
  /** Text and binary messages and pings received. */
  messagesReceived: number;
  pingsSent: number;
  pongsReceived: number;
  /** Frames waiting because of stall(). */
  queued: number;
  closeReason: CloseReason | undefined;
  /** The close code seen by the server (1006 when the socket just went away). */
  closeCode: number | undefined;
}

export interface RestRequestRecord {
  /** Wall-clock epoch ms. */
  at: number;
  method: string;
  path: string;
  query: Record<string, string>;
  endpoint: RestEndpoint;
  status: number;
  weight: number;
  /** X-MBX-USED-WEIGHT-1M of the answer. */
  usedWeight: number;
  /** The scripted failure answered, if any. */
  scripted: RestFailure | undefined;
}

export interface StandinStats {
  tradesTotal: number;
  tradesReleased: number;
  /** Trade frames sent over all connections (duplicates included). */
  framesSent: number;
  duplicatesSent: number;
  /** Released trades never pushed (withholdFrames). */
  framesWithheld: number;
  garbageSent: number;
  /** Connections cut by cutAll / cutConnections / control. */
  connectionsCut: number;
  connectionsOpened: number;
  connectionsOpen: number;
  tooManyMessagesCloses: number;
  pongTimeouts: number;
  maxAgeCloses: number;
  tooManyStreamsRejected: number;
  upgradesRejected: number;
  restRequests: number;
  rest429: number;
  rest418: number;
  restScriptedFailures: number;
}

export interface TimelineInfo {
  start: number;
  end: number;
  trades: number;
  symbols: string[];
  files: FileSummary[];
}

type Step =
  | { kind: 'trade'; time: number; trade: LoadedTrade }
  | { kind: 'cut'; time: number; mode: CutMode; target: CutTarget }
  | { kind: 'garbage'; time: number; garbage: GarbageKind; near: LoadedTrade };

const WITHHELD = 1;
const DUPLICATE = 2;
const MAX_TIMER_MS = 2_147_483_647;
/** Speed mode: at most this many steps per timer callback before yielding with setImmediate. */
const SPEED_BATCH = 2000;
const CLOSE_GRACE_MS = 1000;

const DEFAULTS: Record<Market, { prefix: string; ping: number; pong: number; weightLimit: number; aggTradesWeight: number; exchangeInfoWeight: number; wsPrefix: string }> = {
  usdm: { prefix: '/fapi/v1', wsPrefix: '/market', ping: 180_000, pong: 600_000, weightLimit: 2400, aggTradesWeight: 20, exchangeInfoWeight: 1 },
  spot: { prefix: '/api/v3', wsPrefix: '', ping: 20_000, pong: 60_000, weightLimit: 6000, aggTradesWeight: 4, exchangeInfoWeight: 20 },
};

class Conn {
  readonly streams = new Set<string>();
  open = true;
  closedAt: number | undefined;
  closeReason: CloseReason | undefined;
  closeCode: number | undefined;
  framesSent = 0;
  duplicatesSent = 0;
  garbageSent = 0;
  repliesSent = 0;
  messagesReceived = 0;
  pingsSent = 0;
  pongsReceived = 0;
  stalledUntil = 0;
  readonly queue: string[] = [];
  readonly recent: number[] = [];
  pingTimer: NodeJS.Timeout | undefined;
  pongDeadline: NodeJS.Timeout | undefined;
  ageTimer: NodeJS.Timeout | undefined;
  stallTimer: NodeJS.Timeout | undefined;
  cutTimer: NodeJS.Timeout | undefined;
  readonly openedAt = Date.now();

  constructor(
    readonly id: number,
    readonly ws: WebSocket,
    readonly url: string,
    public combined: boolean,
  ) {}

  record(): ConnectionRecord {
    return {
      id: this.id, url: this.url, combined: this.combined, open: this.open, openedAt: this.openedAt, closedAt: this.closedAt,
      streams: [...this.streams], framesSent: this.framesSent, duplicatesSent: this.duplicatesSent, garbageSent: this.garbageSent,
      repliesSent: this.repliesSent, messagesReceived: this.messagesReceived, pingsSent: this.pingsSent, pongsReceived: this.pongsReceived,
      queued: this.queue.length, closeReason: this.closeReason, closeCode: this.closeCode,
    };
  }
}

function positive(name: string, v: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > max) throw new RangeError(`${name} must be a number in (0, ${max}], got ${String(v)}`);
  return v;
}

function fraction(name: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new RangeError(`${name} must be in [0, 1], got ${String(v)}`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a non-negative number, got ${String(v)}`);
  return v;
}

export class ExchangeStandin {
  /** The port listened on (127.0.0.1). */
  get port(): number {
    return this.listenPort;
  }
  /** `ws://127.0.0.1:PORT`: append `/market/stream?streams=...` (USD-M) or `/stream?streams=...` (spot). */
  get wsBaseUrl(): string {
    return `ws://127.0.0.1:${this.listenPort}`;
  }
  /** `http://127.0.0.1:PORT`: append `/fapi/v1/...` (USD-M) or `/api/v3/...` (spot). */
  get restBaseUrl(): string {
    return `http://127.0.0.1:${this.listenPort}`;
  }
  readonly market: Market;
  /** Resolves once every trade (and scripted step) has been released. */
  readonly finished: Promise<void>;

  private readonly speed: Speed;
  private readonly maxBatch: number;
  private readonly defaults: (typeof DEFAULTS)[Market];
  private readonly pingIntervalMs: number;
  private readonly pongTimeoutMs: number;
  private readonly maxAgeMs: number;
  private readonly maxIncoming: number;
  private readonly maxStreams: number;
  private readonly weightLimit: number;
  private readonly restNow: () => number;
  private readonly historyMs: number;
  private readonly limiter: WeightLimiter;
  private readonly failures: FailurePlan;
  private readonly restFailureRetryAfter: number;
  private readonly timeline: Timeline;
  private readonly server: http.Server;
  private readonly oversizeBytes: number;
  private readonly playOn: 'call' | 'start' | 'first-subscription';

  private readonly steps: Step[];
  private readonly flags: Uint8Array;
  private readonly released: Uint8Array;
  private readonly listAt: Map<string, number>;
  private readonly symbolInfo: Map<string, SymbolInfo>;
  private readonly bundledKlines: BundledKlines[];
  private readonly phantom: { symbol: string; at: number; quantity: string | undefined } | undefined;
  /** Built kline books per symbol, valid while no further trade has been released. */
  private readonly klineBooks = new Map<string, { released: number; book: KlineBook }>();
  private readonly cutRng: Rng;
  /** cutConnections.everyConnectionAfterMs: each connection's own cut, drawn when it opens. */
  private readonly cutAfter: { minMs: number; maxMs: number; mode: CutMode; rng: Rng } | undefined;

  private listenPort = 0;
  private cursor = 0;
  private playhead: number;
  private playing = false;
  private playWall = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private resolveFinished: () => void = () => undefined;
  private isFinished = false;
  private closing: Promise<void> | undefined;

  private readonly conns = new Map<number, Conn>();
  private readonly subs = new Map<string, Set<Conn>>();
  private nextConnId = 1;
  private readonly requestLog: RestRequestRecord[] = [];
  /** holdRest(): the endpoints held (undefined = none held; an empty set = every endpoint). */
  private restHold: Set<RestEndpoint> | undefined;
  private readonly heldRest: Array<{ req: http.IncomingMessage; res: http.ServerResponse }> = [];
  private heldRestTotal = 0;
  private readonly st: StandinStats;
  private readonly wss: WebSocketServer;

  /** Loads the files, listens on 127.0.0.1 and (playOn 'start') starts playback. */
  static async start(options: ExchangeStandinOptions): Promise<ExchangeStandin> {
    const market = options.market ?? 'usdm';
    if (market !== 'usdm' && market !== 'spot') throw new RangeError(`market must be usdm or spot, got ${String(market)}`);
    const align = options.align ?? 'none';
    if (align !== 'start' && align !== 'none') throw new RangeError(`align must be start or none, got ${String(align)}`);
    const shiftUnitMs = positive('shiftUnitMs', options.shiftUnitMs, 86_400_000);
    if (!Number.isSafeInteger(shiftUnitMs)) throw new RangeError(`shiftUnitMs must be an integer, got ${shiftUnitMs}`);
    if (options.shiftTo !== undefined && !Number.isSafeInteger(options.shiftTo)) throw new RangeError(`shiftTo must be epoch ms, got ${String(options.shiftTo)}`);
    const listMid = options.trouble?.listMidStream ?? [];
    const timeline = await loadTimeline({
      files: options.files,
      market,
      align,
      shiftTo: options.shiftTo,
      shiftUnitMs,
      listAt: (start) => new Map(listMid.map((l) => [l.symbol, start + nonNegative(`listMidStream ${l.symbol} offsetMs`, l.offsetMs)])),
    });
    const server = http.createServer();
    const ex = new ExchangeStandin(options, market, timeline, server);
    await ex.listen(server, options.port ?? 0);
    if (ex.playOn === 'start') ex.play();
    return ex;
  }

  private constructor(options: ExchangeStandinOptions, market: Market, timeline: Timeline, server: http.Server) {
    this.market = market;
    this.timeline = timeline;
    this.server = server;
    this.defaults = DEFAULTS[market];
    const speed = options.speed ?? 1;
    if (speed !== 'max' && speed !== 'manual') positive('speed', speed, 1);
    this.speed = speed;
    this.maxBatch = Math.floor(positive('maxBatch', options.maxBatch, 256));
    this.pingIntervalMs = positive('pingIntervalMs', options.pingIntervalMs, this.defaults.ping, MAX_TIMER_MS);
    this.pongTimeoutMs = positive('pongTimeoutMs', options.pongTimeoutMs, this.defaults.pong, MAX_TIMER_MS);
    this.maxAgeMs = positive('maxConnectionAgeMs', options.maxConnectionAgeMs, 86_400_000, MAX_TIMER_MS);
    this.maxIncoming = Math.floor(positive('maxIncomingPerSecond', options.maxIncomingPerSecond, 10));
    this.maxStreams = Math.floor(positive('maxStreamsPerConnection', options.maxStreamsPerConnection, 1024));
    const rest = options.rest ?? {};
    this.weightLimit = Math.floor(positive('rest.weightLimitPerMinute', rest.weightLimitPerMinute, this.defaults.weightLimit));
    this.restNow = rest.now ?? Date.now;
    this.historyMs = rest.historyMs === undefined ? Infinity : positive('rest.historyMs', rest.historyMs, 0);
    const ban = rest.ban === false ? undefined : {
      after: Math.floor(positive('rest.ban.after', rest.ban?.after, 2)),
      banMs: positive('rest.ban.banMs', rest.ban?.banMs, 120_000),
    };
    this.limiter = new WeightLimiter(this.weightLimit, ban);
    const playOn = options.playOn ?? 'call';
    if (!['call', 'start', 'first-subscription'].includes(playOn)) throw new RangeError(`playOn must be call, start or first-subscription, got ${String(playOn)}`);
    this.playOn = playOn;
    const seed = options.seed ?? 1;
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a number, got ${String(seed)}`);
    const trouble = options.trouble ?? {};

    const rf = trouble.restFailures ?? {};
    this.failures = new FailurePlan(
      {
        first: rf.first === undefined ? 0 : nonNegative('restFailures.first', rf.first),
        fraction: fraction('restFailures.fraction', rf.fraction),
        kinds: rf.kinds ?? (rf.first !== undefined || rf.fraction !== undefined ? ['server-error'] : []),
        endpoints: rf.endpoints ?? ['aggTrades', 'exchangeInfo'],
      },
      seededRng(seed, 'restFailures'),
    );
    this.restFailureRetryAfter = rf.retryAfterSeconds ?? 1;

    // Symbols: timeline ones, overrides and extras.
    this.symbolInfo = new Map();
    for (const s of timeline.bySymbol.keys()) this.symbolInfo.set(s, { symbol: s });
    for (const s of options.symbols ?? []) {
      if (typeof s.symbol !== 'string' || s.symbol === '') throw new RangeError('symbols: every entry needs a symbol');
      this.symbolInfo.set(s.symbol, { ...this.symbolInfo.get(s.symbol), ...s });
    }
    this.bundledKlines = (options.bundledKlines ?? []).map((b) => {
      const file = timeline.files[b.file ?? 0];
      if (file === undefined) throw new RangeError(`bundledKlines ${b.path}: no timeline file ${b.file ?? 0}`);
      if (!this.symbolInfo.has(b.symbol)) throw new RangeError(`bundledKlines ${b.path}: ${b.symbol} is neither on the timeline nor in symbols`);
      return loadBundledKlines(b.path, b.symbol, b.interval, file.shiftMs);
    });
    const dk = trouble.disagreeKlines;
    if (dk !== undefined) {
      if (!timeline.bySymbol.has(dk.symbol)) throw new RangeError(`disagreeKlines: ${dk.symbol} has no trades on the timeline`);
      if (dk.quantity !== undefined && !/^[0-9]+(\.[0-9]+)?$/.test(dk.quantity)) throw new RangeError(`disagreeKlines: quantity must be a decimal, got ${dk.quantity}`);
      this.phantom = { symbol: dk.symbol, at: timeline.start + nonNegative('disagreeKlines.atOffsetMs', dk.atOffsetMs), quantity: dk.quantity };
    }
    this.listAt = new Map();
    for (const l of trouble.listMidStream ?? []) {
      if (!this.symbolInfo.has(l.symbol)) throw new RangeError(`listMidStream: ${l.symbol} is neither on the timeline nor in symbols`);
      this.listAt.set(l.symbol, timeline.start + l.offsetMs);
    }

    // Per-trade trouble flags.
    const n = timeline.trades.length;
    this.flags = new Uint8Array(n);
    this.released = new Uint8Array(n);
    const wf = trouble.withholdFrames ?? {};
    const withholdFraction = fraction('withholdFrames.fraction', wf.fraction);
    const withholdIds = new Set(wf.aggIds ?? []);
    const blackouts = (wf.blackouts ?? []).map((b) => ({
      from: timeline.start + nonNegative('blackout fromOffsetMs', b.fromOffsetMs),
      to: timeline.start + nonNegative('blackout toOffsetMs', b.toOffsetMs),
      symbols: b.symbols === undefined ? undefined : new Set(b.symbols),
    }));
    const df = trouble.duplicateFrames ?? {};
    const dupFraction = fraction('duplicateFrames.fraction', df.fraction);
    const dupIds = new Set(df.aggIds ?? []);
    const wRng = seededRng(seed, 'withholdFrames');
    const dRng = seededRng(seed, 'duplicateFrames');
    for (const t of timeline.trades) {
      const w = wRng();
      const d = dRng();
      if (withholdIds.has(t.aggId) || w < withholdFraction || blackouts.some((b) => t.eventTime >= b.from && t.eventTime < b.to && (b.symbols === undefined || b.symbols.has(t.symbol)))) {
        this.flags[t.seq]! |= WITHHELD;
      } else if (dupIds.has(t.aggId) || d < dupFraction) {
        this.flags[t.seq]! |= DUPLICATE;
      }
    }

    // Steps: trades, cuts, garbage, in timeline order.
    const entries: Array<{ step: Step; rank: number; order: number }> = timeline.trades.map((t) => ({ step: { kind: 'trade', time: t.eventTime, trade: t }, rank: 1, order: t.seq }));
    const cc = trouble.cutConnections ?? {};
    const cutMode = cc.mode ?? 'abrupt';
    const cutTarget = cc.target ?? 'all';
    for (const c of cc.at ?? []) {
      entries.push({ step: { kind: 'cut', time: timeline.start + nonNegative('cutConnections offsetMs', c.offsetMs), mode: c.mode ?? cutMode, target: c.target ?? cutTarget }, rank: 2, order: entries.length });
    }
    if (cc.randomPerMinute !== undefined) {
      const rate = positive('cutConnections.randomPerMinute', cc.randomPerMinute, 1);
      const rng = seededRng(seed, 'cutConnections');
      for (let t = timeline.start, i = 0; i < 100_000; i++) {
        t += (-Math.log(1 - rng()) / rate) * 60_000;
        if (t > timeline.end) break;
        entries.push({ step: { kind: 'cut', time: Math.floor(t), mode: cutMode, target: cutTarget }, rank: 2, order: entries.length });
      }
    }
    const g = trouble.garbageLines;
    this.oversizeBytes = Math.floor(positive('garbageLines.oversizeBytes', g?.oversizeBytes, DEFAULT_OVERSIZE_BYTES));
    if (g !== undefined && n > 0) {
      const kinds = g.kinds ?? GARBAGE_KINDS;
      for (const k of kinds) if (!GARBAGE_KINDS.includes(k)) throw new RangeError(`garbageLines: unknown kind ${String(k)}`);
      const count = g.count ?? kinds.length;
      const rng = seededRng(seed, 'garbageLines');
      for (let i = 0; i < count && kinds.length > 0; i++) {
        const near = timeline.trades[pick(rng, n)]!;
        entries.push({ step: { kind: 'garbage', time: near.eventTime, garbage: kinds[i % kinds.length]!, near }, rank: 0, order: entries.length });
      }
    }
    const every = cc.everyConnectionAfterMs;
    if (every !== undefined) {
      const minMs = nonNegative('cutConnections.everyConnectionAfterMs.minMs', every.minMs);
      const maxMs = nonNegative('cutConnections.everyConnectionAfterMs.maxMs', every.maxMs);
      if (maxMs < minMs || maxMs > MAX_TIMER_MS) throw new RangeError(`cutConnections.everyConnectionAfterMs: need minMs <= maxMs <= ${MAX_TIMER_MS}, got ${minMs}..${maxMs}`);
      this.cutAfter = { minMs, maxMs, mode: cutMode, rng: seededRng(seed, 'everyConnectionAfter') };
    }
    entries.sort((a, b) => a.step.time - b.step.time || a.rank - b.rank || a.order - b.order);
    this.steps = entries.map((e) => e.step);
    this.cutRng = seededRng(seed, 'cutTarget');

    this.playhead = timeline.start - 1;
    this.st = {
      tradesTotal: n, tradesReleased: 0, framesSent: 0, duplicatesSent: 0, framesWithheld: 0, garbageSent: 0, connectionsCut: 0,
      connectionsOpened: 0, connectionsOpen: 0, tooManyMessagesCloses: 0, pongTimeouts: 0, maxAgeCloses: 0, tooManyStreamsRejected: 0,
      upgradesRejected: 0, restRequests: 0, rest429: 0, rest418: 0, restScriptedFailures: 0,
    };
    this.finished = new Promise<void>((resolve) => {
      this.resolveFinished = resolve;
    });
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
  }

  private async listen(server: http.Server, port: number): Promise<void> {
    server.on('request', (req, res) => this.onRequest(req, res));
    server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    server.on('clientError', (_e, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.listenPort = (server.address() as AddressInfo).port;
    if (this.steps.length === 0) this.finish();
  }

  // ------------------------------------------------------------------------------------------------------
  // Truth and records

  /** aggIds per symbol of every trade on the timeline (pushed on WS or not), in id order. */
  expectedTrades(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const [s, list] of this.timeline.bySymbol) out.set(s, list.map((t) => t.aggId));
    return out;
  }

  /** The full records of expectedTrades(), per symbol in id order. */
  expectedRecords(): Map<string, StandinTrade[]> {
    const out = new Map<string, StandinTrade[]>();
    for (const [s, list] of this.timeline.bySymbol) out.set(s, list.map(publicTrade));
    return out;
  }

  /** Released trades so far per symbol (in id order): what REST can answer now, history limit aside. */
  releasedTrades(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const [s, list] of this.timeline.bySymbol) out.set(s, list.filter((t) => this.released[t.seq] === 1).map((t) => t.aggId));
    return out;
  }

  /** aggIds never pushed on the WebSocket (withholdFrames), per symbol. */
  withheldTrades(): Map<string, number[]> {
    return this.flagged(WITHHELD);
  }

  /** aggIds pushed twice (duplicateFrames), per symbol. */
  duplicatedTrades(): Map<string, number[]> {
    return this.flagged(DUPLICATE);
  }

  get timelineInfo(): TimelineInfo {
    return { start: this.timeline.start, end: this.timeline.end, trades: this.timeline.trades.length, symbols: [...this.timeline.bySymbol.keys()].sort(), files: this.timeline.files };
  }

  /** The exchange clock: the playback position on the timeline. */
  serverTime(): number {
    if (typeof this.speed === 'number' && this.playing && !this.closing) {
      return Math.floor(this.timeline.start + (Date.now() - this.playWall) * this.speed);
    }
    return this.playhead;
  }

  connections(): ConnectionRecord[] {
    return [...this.conns.values()].map((c) => c.record());
  }

  connection(id: number): ConnectionRecord | undefined {
    return this.conns.get(id)?.record();
  }

  requests(): RestRequestRecord[] {
    return this.requestLog.slice();
  }

  get stats(): StandinStats {
    let open = 0;
    for (const c of this.conns.values()) if (c.open) open++;
    return { ...this.st, connectionsOpen: open };
  }

  // ------------------------------------------------------------------------------------------------------
  // Playback

  /** Starts playback (number / 'max' speed); a no-op when already playing or in manual mode. */
  play(): void {
    if (this.closing || this.playing) return;
    this.playing = true;
    if (this.speed === 'manual') return;
    this.playWall = Date.now();
    if (this.speed === 'max') this.immediate = setImmediate(this.maxTick);
    else this.speedTick();
  }

  /** Manual mode: releases the next `n` trades (and scripted steps before them); returns trades released. */
  advance(n = 1): number {
    this.requireManual('advance');
    let trades = 0;
    while (this.cursor < this.steps.length && trades < n) {
      const s = this.steps[this.cursor]!;
      if (s.kind === 'trade') trades++;
      this.releaseNext();
    }
    // Scripted steps at the same time as the last trade go with it.
    while (this.cursor < this.steps.length && this.steps[this.cursor]!.kind !== 'trade' && this.steps[this.cursor]!.time <= this.playhead) this.releaseNext();
    this.checkFinished();
    return trades;
  }

  /** Manual mode: releases every step up to timeline time `time` (inclusive); returns trades released. */
  advanceTo(time: number): number {
    this.requireManual('advanceTo');
    let trades = 0;
    while (this.cursor < this.steps.length && this.steps[this.cursor]!.time <= time) {
      if (this.steps[this.cursor]!.kind === 'trade') trades++;
      this.releaseNext();
    }
    this.playhead = Math.max(this.playhead, time);
    this.checkFinished();
    return trades;
  }

  /** Manual mode: releases everything left. */
  advanceAll(): number {
    return this.advanceTo(Number.MAX_SAFE_INTEGER);
  }

  private requireManual(what: string): void {
    if (this.speed !== 'manual') throw new Error(`${what}() needs speed 'manual' (this stand-in plays at ${String(this.speed)})`);
    if (this.closing) throw new Error(`${what}(): the stand-in is closed`);
  }

  private readonly maxTick = (): void => {
    this.immediate = undefined;
    if (this.closing) return;
    for (let i = 0; i < this.maxBatch && this.cursor < this.steps.length; i++) this.releaseNext();
    if (!this.checkFinished()) this.immediate = setImmediate(this.maxTick);
  };

  private speedTick = (): void => {
    this.timer = undefined;
    this.immediate = undefined;
    if (this.closing) return;
    const now = this.serverTime();
    let n = 0;
    while (this.cursor < this.steps.length && this.steps[this.cursor]!.time <= now && n < SPEED_BATCH) {
      this.releaseNext();
      n++;
    }
    if (this.checkFinished()) return;
    if (n >= SPEED_BATCH) {
      this.immediate = setImmediate(this.speedTick);
      return;
    }
    const speed = this.speed as number;
    const due = this.playWall + (this.steps[this.cursor]!.time - this.timeline.start) / speed;
    this.timer = setTimeout(this.speedTick, Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(due - Date.now()))));
  };

  private checkFinished(): boolean {
    if (this.cursor < this.steps.length) return false;
    this.finish();
    return true;
  }

  private finish(): void {
    if (this.isFinished) return;
    this.isFinished = true;
    this.resolveFinished();
  }

  private releaseNext(): void {
    const step = this.steps[this.cursor++]!;
    if (step.time > this.playhead) this.playhead = step.time;
    switch (step.kind) {
      case 'trade':
        this.releaseTrade(step.trade);
        break;
      case 'cut':
        if (step.target === 'all') this.cutAll(step.mode);
        else this.cutOne(step.mode);
        break;
      case 'garbage':
        this.sendGarbage(step.garbage, step.near, undefined);
        break;
    }
  }

  private releaseTrade(t: LoadedTrade): void {
    this.released[t.seq] = 1;
    this.st.tradesReleased++;
    const flags = this.flags[t.seq]!;
    if ((flags & WITHHELD) !== 0) {
      this.st.framesWithheld++;
      return;
    }
    const conns = this.subs.get(t.stream);
    if (conns === undefined) return;
    const copies = (flags & DUPLICATE) !== 0 ? 2 : 1;
    for (const c of conns) {
      for (let k = 0; k < copies; k++) {
        this.send(c, c.combined ? t.combined : t.payload);
        c.framesSent++;
        this.st.framesSent++;
      }
      if (copies === 2) {
        c.duplicatesSent++;
        this.st.duplicatesSent++;
      }
    }
  }

  // ------------------------------------------------------------------------------------------------------
  // Trouble on demand

  /** Terminates every open connection: 'abrupt' = socket destroyed (no close frame), 'clean' = close 1001. Returns how many. */
  cutAll(mode: CutMode = 'abrupt'): number {
    let n = 0;
    for (const c of this.conns.values()) {
      if (c.open && c.closeReason === undefined) {
        this.cut(c, mode);
        n++;
      }
    }
    return n;
  }

  /** Cuts one connection (by id, or a seeded random open one). Returns its id, or undefined if none. */
  cutOne(mode: CutMode = 'abrupt', id?: number): number | undefined {
    let c: Conn | undefined;
    if (id !== undefined) c = this.conns.get(id);
    else {
      const open = [...this.conns.values()].filter((x) => x.open && x.closeReason === undefined);
      if (open.length > 0) c = open[pick(this.cutRng, open.length)];
    }
    if (c === undefined || !c.open || c.closeReason !== undefined) return undefined;
    this.cut(c, mode);
    return c.id;
  }

  private cut(c: Conn, mode: CutMode): void {
    this.st.connectionsCut++;
    if (mode === 'abrupt') {
      c.closeReason = 'cut-abrupt';
      c.ws.terminate();
    } else {
      c.closeReason = 'cut-clean';
      c.ws.close(1001, 'Going away');
    }
  }

  /** Holds back everything sent to one connection for `ms` (wall clock), then delivers it in order; a new call replaces the old one (0 ends a stall). */
  stall(connectionId: number, ms: number): void {
    const c = this.conns.get(connectionId);
    if (c === undefined) throw new RangeError(`stall: no connection ${connectionId}`);
    nonNegative('stall ms', ms);
    if (!c.open) return;
    if (c.stallTimer !== undefined) clearTimeout(c.stallTimer);
    c.stalledUntil = Date.now() + ms;
    c.stallTimer = setTimeout(() => {
      c.stallTimer = undefined;
      c.stalledUntil = 0;
      const queued = c.queue.splice(0);
      if (c.open) for (const text of queued) c.ws.send(text);
    }, Math.min(MAX_TIMER_MS, ms));
  }

  /** Sends one garbage frame now, to one connection or to every connection with a subscription. */
  injectGarbage(kind: GarbageKind, connectionId?: number): number {
    if (!GARBAGE_KINDS.includes(kind)) throw new RangeError(`unknown garbage kind ${String(kind)}`);
    const near = this.timeline.trades[Math.min(this.cursor, this.timeline.trades.length - 1)] ?? this.timeline.trades[0];
    if (near === undefined) throw new Error('injectGarbage: the timeline has no trades to model garbage on');
    return this.sendGarbage(kind, near, connectionId);
  }

  /**
   * From now on REST requests of these endpoints (default: every endpoint) wait unanswered until
   * releaseRest(). A new call replaces the held endpoints (requests already waiting stay held).
   */
  holdRest(endpoints?: RestEndpoint[]): void {
    this.restHold = new Set(endpoints ?? []);
  }

  /** Ends the hold and answers every held request now, in arrival order; returns how many. */
  releaseRest(): number {
    this.restHold = undefined;
    const held = this.heldRest.splice(0);
    for (const h of held) if (!h.res.destroyed) this.answerRest(h.req, h.res);
    return held.length;
  }

  /** REST requests waiting for releaseRest() now, and held in all since the start. */
  get restHeld(): { waiting: number; total: number } {
    return { waiting: this.heldRest.length, total: this.heldRestTotal };
  }

  /** The next `n` REST requests (of that endpoint, default any) get this failure. */
  failNextRequests(n: number, failure: RestFailure, endpoint?: RestEndpoint): void {
    this.failures.queue(n, failure, endpoint);
  }

  private sendGarbage(kind: GarbageKind, near: LoadedTrade, connectionId: number | undefined): number {
    let n = 0;
    for (const c of this.conns.values()) {
      if (!c.open || (connectionId !== undefined ? c.id !== connectionId : c.streams.size === 0)) continue;
      this.send(c, renderGarbage(kind, near, c.combined, this.oversizeBytes));
      c.garbageSent++;
      this.st.garbageSent++;
      n++;
    }
    return n;
  }

  // ------------------------------------------------------------------------------------------------------
  // WebSocket

  private send(c: Conn, text: string): void {
    if (!c.open) return;
    if (c.stalledUntil > 0) {
      c.queue.push(text);
      return;
    }
    c.ws.send(text);
  }

  private wsRoute(url: URL): { combined: boolean; streams: string[] } | { status: number; body: string } {
    const p = url.pathname;
    const base = this.defaults.wsPrefix;
    let streams: string[];
    let combined: boolean;
    if (p === `${base}/stream`) {
      combined = true;
      streams = (url.searchParams.get('streams') ?? '').split('/').filter((s) => s !== '');
    } else if (p === `${base}/ws` || p === `${base}/ws/`) {
      combined = false;
      streams = [];
    } else if (p.startsWith(`${base}/ws/`)) {
      combined = false;
      try {
        streams = p.slice(base.length + 4).split('/').filter((s) => s !== '').map(decodeURIComponent);
      } catch {
        return { status: 400, body: 'Invalid stream name' };
      }
    } else {
      return { status: 404, body: '<html><body><h1>404 Not Found</h1></body></html>' };
    }
    streams = [...new Set(streams)];
    if (streams.length > this.maxStreams) {
      this.st.tooManyStreamsRejected++;
      return { status: 400, body: `{"code":-1003,"msg":"Too many streams: ${streams.length} > ${this.maxStreams}"}` };
    }
    return { combined, streams };
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    if (this.closing) {
      socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const route = this.wsRoute(url);
    if ('status' in route) {
      this.st.upgradesRejected++;
      const reason = http.STATUS_CODES[route.status] ?? 'Error';
      socket.end(`HTTP/1.1 ${route.status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(route.body)}\r\nConnection: close\r\n\r\n${route.body}`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, route, `${url.pathname}${url.search}`));
  }

  private onConnection(ws: WebSocket, route: { combined: boolean; streams: string[] }, url: string): void {
    const c = new Conn(this.nextConnId++, ws, url, route.combined);
    this.conns.set(c.id, c);
    this.st.connectionsOpened++;
    for (const s of route.streams) this.subscribe(c, s);
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(c, data, isBinary));
    ws.on('ping', () => this.countIncoming(c));
    ws.on('pong', () => {
      c.pongsReceived++;
      if (c.pongDeadline !== undefined) clearTimeout(c.pongDeadline);
      c.pongDeadline = undefined;
    });
    ws.on('error', () => undefined);
    ws.on('close', (code: number) => this.onClose(c, code));
    c.pingTimer = setInterval(() => this.ping(c), this.pingIntervalMs);
    c.ageTimer = setTimeout(() => {
      if (!c.open || c.closeReason !== undefined) return;
      c.closeReason = 'max-age';
      this.st.maxAgeCloses++;
      ws.close(1001, 'Connection lifetime expired');
    }, this.maxAgeMs);
    if (this.cutAfter !== undefined) {
      const { minMs, maxMs, mode, rng } = this.cutAfter;
      c.cutTimer = setTimeout(() => {
        c.cutTimer = undefined;
        if (c.open && c.closeReason === undefined) this.cut(c, mode);
      }, Math.round(minMs + rng() * (maxMs - minMs)));
    }
    if (this.playOn === 'first-subscription' && c.streams.size > 0) this.play();
  }

  private ping(c: Conn): void {
    if (!c.open || c.closeReason !== undefined) return;
    c.ws.ping();
    c.pingsSent++;
    if (c.pongDeadline === undefined) {
      c.pongDeadline = setTimeout(() => {
        c.pongDeadline = undefined;
        if (!c.open || c.closeReason !== undefined) return;
        c.closeReason = 'pong-timeout';
        this.st.pongTimeouts++;
        c.ws.terminate();
      }, this.pongTimeoutMs);
    }
  }

  private onClose(c: Conn, code: number): void {
    if (!c.open) return;
    c.open = false;
    c.closedAt = Date.now();
    c.closeCode = code;
    c.closeReason ??= 'client';
    for (const t of [c.pingTimer, c.ageTimer, c.stallTimer, c.cutTimer]) if (t !== undefined) clearTimeout(t);
    if (c.pongDeadline !== undefined) clearTimeout(c.pongDeadline);
    c.pingTimer = c.ageTimer = c.stallTimer = c.pongDeadline = c.cutTimer = undefined;
    c.queue.length = 0;
    for (const s of c.streams) this.subs.get(s)?.delete(c);
  }

  /** Counts one incoming message; false (and the connection closed) when it is over the limit. */
  private countIncoming(c: Conn): boolean {
    c.messagesReceived++;
    if (c.closeReason !== undefined) return false;
    const now = Date.now();
    c.recent.push(now);
    while (c.recent.length > 0 && c.recent[0]! <= now - 1000) c.recent.shift();
    if (c.recent.length > this.maxIncoming) {
      c.closeReason = 'too-many-messages';
      this.st.tooManyMessagesCloses++;
      c.ws.close(1008, 'Too many messages');
      return false;
    }
    return true;
  }

  private subscribe(c: Conn, stream: string): void {
    c.streams.add(stream);
    let set = this.subs.get(stream);
    if (set === undefined) this.subs.set(stream, (set = new Set()));
    set.add(c);
  }

  private unsubscribe(c: Conn, stream: string): void {
    c.streams.delete(stream);
    this.subs.get(stream)?.delete(c);
  }

  private reply(c: Conn, body: unknown): void {
    c.repliesSent++;
    this.send(c, JSON.stringify(body));
  }

  private onMessage(c: Conn, data: RawData, isBinary: boolean): void {
    if (!this.countIncoming(c) || isBinary) return;
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      this.reply(c, { error: { code: 3, msg: 'Invalid JSON: expected value at line 1 column 1' }, id: null });
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.reply(c, { error: { code: 2, msg: 'Invalid request: request must be an object' }, id: null });
      return;
    }
    const m = msg as Record<string, unknown>;
    const id = m.id;
    if (id !== undefined && id !== null && typeof id !== 'string' && !(typeof id === 'number' && Number.isSafeInteger(id) && id >= 0)) {
      this.reply(c, { error: { code: 1, msg: "Invalid value type: expected unsigned integer or string for 'id'" }, id: null });
      return;
    }
    const rid = id ?? null;
    const params = m.params;
    const names = Array.isArray(params) && params.every((p) => typeof p === 'string') ? (params as string[]) : undefined;
    switch (m.method) {
      case 'SUBSCRIBE': {
        if (names === undefined) return this.reply(c, { error: { code: 2, msg: 'Invalid request: params must be an array of stream names' }, id: rid });
        const added = new Set(names.filter((s) => !c.streams.has(s)));
        if (c.streams.size + added.size > this.maxStreams) {
          this.st.tooManyStreamsRejected++;
          return this.reply(c, { error: { code: 2, msg: `Invalid request: too many streams (limit ${this.maxStreams})` }, id: rid });
        }
        for (const s of added) this.subscribe(c, s);
        this.reply(c, { result: null, id: rid });
        if (this.playOn === 'first-subscription' && c.streams.size > 0) this.play();
        return;
      }
      case 'UNSUBSCRIBE':
        if (names === undefined) return this.reply(c, { error: { code: 2, msg: 'Invalid request: params must be an array of stream names' }, id: rid });
        for (const s of names) this.unsubscribe(c, s);
        return this.reply(c, { result: null, id: rid });
      case 'LIST_SUBSCRIPTIONS':
        return this.reply(c, { result: [...c.streams], id: rid });
      case 'SET_PROPERTY':
        if (Array.isArray(params) && params.length === 2 && params[0] === 'combined' && typeof params[1] === 'boolean') {
          c.combined = params[1];
          return this.reply(c, { result: null, id: rid });
        }
        return this.reply(c, { error: { code: 2, msg: 'Invalid request: unknown property' }, id: rid });
      case 'GET_PROPERTY':
        if (Array.isArray(params) && params.length === 1 && params[0] === 'combined') return this.reply(c, { result: c.combined, id: rid });
        return this.reply(c, { error: { code: 2, msg: 'Invalid request: unknown property' }, id: rid });
      default:
        return this.reply(c, { error: { code: 2, msg: `Invalid request: unknown method ${JSON.stringify(String(m.method)).slice(0, 60)}` }, id: rid });
    }
  }

  // ------------------------------------------------------------------------------------------------------
  // REST

  private listed(symbol: string): boolean {
    if (!this.symbolInfo.has(symbol)) return false;
    const at = this.listAt.get(symbol);
    return at === undefined || this.serverTime() >= at;
  }

  private listedSymbols(): ResolvedSymbol[] {
    const out: ResolvedSymbol[] = [];
    for (const info of this.symbolInfo.values()) {
      if (!this.listed(info.symbol)) continue;
      out.push(resolveSymbol(info, {
        pricePrecision: this.timeline.priceDecimals.get(info.symbol),
        quantityPrecision: this.timeline.quantityDecimals.get(info.symbol),
        onboardDate: this.listAt.get(info.symbol) ?? defaultOnboardDate(this.timeline.start),
      }));
    }
    return out;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname.startsWith('/__standin/')) {
      this.control(req, url, res);
      return;
    }
    if (this.restHold !== undefined && (this.restHold.size === 0 || this.restHold.has(this.endpointOf(url)))) {
      this.heldRest.push({ req, res });
      this.heldRestTotal++;
      return;
    }
    this.answerRest(req, res);
  }

  private endpointOf(url: URL): RestEndpoint {
    const prefix = this.defaults.prefix;
    return url.pathname === `${prefix}/exchangeInfo` ? 'exchangeInfo'
      : url.pathname === `${prefix}/aggTrades` ? 'aggTrades'
        : url.pathname === `${prefix}/klines` ? 'klines'
        : url.pathname === `${prefix}/ping` ? 'ping'
          : url.pathname === `${prefix}/time` ? 'time'
            : 'other';
  }

  private answerRest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const endpoint = this.endpointOf(url);
    const weight = endpoint === 'aggTrades' ? this.defaults.aggTradesWeight
      : endpoint === 'exchangeInfo' ? this.defaults.exchangeInfoWeight
        : endpoint === 'klines' ? klinesWeight(this.market, url.searchParams)
          : endpoint === 'other' ? 0 : 1;
    const now = this.restNow();
    let answer: HttpAnswer;
    let scripted: RestFailure | undefined;
    let used: number;
    if (endpoint === 'other' || req.method !== 'GET') {
      answer = { status: 404, body: '<html><body><h2>404 Not found</h2></body></html>', contentType: 'text/html', headers: {} };
      used = this.limiter.usedAt(now);
    } else {
      const admission = this.limiter.admit(weight, now);
      used = admission.used;
      if (!admission.ok) {
        answer = limitAnswer(admission, this.weightLimit);
        if (admission.status === 429) this.st.rest429++;
        else this.st.rest418++;
      } else if ((scripted = this.failures.next(endpoint)) !== undefined) {
        answer = failureAnswer(scripted, this.restFailureRetryAfter);
        this.st.restScriptedFailures++;
        if (answer.status === 429) this.st.rest429++;
      } else {
        answer = this.answer(endpoint, url.searchParams);
      }
    }
    this.st.restRequests++;
    this.requestLog.push({
      at: Date.now(), method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), endpoint,
      status: answer.status, weight, usedWeight: used, scripted,
    });
    res.writeHead(answer.status, { 'Content-Type': answer.contentType, 'X-MBX-USED-WEIGHT-1M': String(used), ...answer.headers });
    res.end(answer.body);
    req.resume();
  }

  private answer(endpoint: RestEndpoint, q: URLSearchParams): HttpAnswer {
    const ok = (body: string): HttpAnswer => ({ status: 200, body, contentType: 'application/json', headers: {} });
    switch (endpoint) {
      case 'ping':
        return ok('{}');
      case 'time':
        return ok(JSON.stringify({ serverTime: this.serverTime() }));
      case 'exchangeInfo':
        return ok(exchangeInfoBody(this.market, this.serverTime(), this.weightLimit, this.listedSymbols()));
      case 'aggTrades': {
        const symbol = q.get('symbol');
        if (symbol === null || symbol === '') return jsonError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.");
        if (!this.listed(symbol)) return jsonError(400, -1121, 'Invalid symbol.');
        const floor = this.serverTime() - this.historyMs;
        return aggTradesAnswer(q, this.timeline.bySymbol.get(symbol) ?? [], (t) => this.released[t.seq] === 1 && t.tradeTime >= floor);
      }
      case 'klines': {
        const symbol = q.get('symbol');
        if (symbol === null || symbol === '') return jsonError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.");
        if (!this.listed(symbol)) return jsonError(400, -1121, 'Invalid symbol.');
        // The exchange's klines hold its whole history: no historyMs floor here.
        return klinesAnswer(this.market, q, (interval) => ({
          book: this.klineBook(symbol),
          bundled: this.bundledKlines.find((b) => b.symbol === symbol && b.interval === interval),
          serverTime: this.serverTime(),
        }));
      }
      default:
        return jsonError(404, -1000, 'Unknown endpoint.');
    }
  }

  /** The symbol's klines as built from its released trades (and the disagreement, if scripted). */
  private klineBook(symbol: string): KlineBook {
    const cached = this.klineBooks.get(symbol);
    if (cached !== undefined && cached.released === this.st.tradesReleased) return cached.book;
    const released = (this.timeline.bySymbol.get(symbol) ?? []).filter((t) => this.released[t.seq] === 1);
    const phantom = this.phantom?.symbol === symbol ? this.phantom : undefined;
    const info = this.listedSymbols().find((s) => s.symbol === symbol);
    const book = new KlineBook(klineTrades(released, phantom), this.market, {
      pricePrecision: info?.pricePrecision ?? this.timeline.priceDecimals.get(symbol) ?? 2,
      quantityPrecision: info?.quantityPrecision ?? this.timeline.quantityDecimals.get(symbol) ?? 3,
    });
    this.klineBooks.set(symbol, { released: this.st.tradesReleased, book });
    return book;
  }

  private control(req: http.IncomingMessage, url: URL, res: http.ServerResponse): void {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    req.resume();
    const q = url.searchParams;
    const num = (name: string): number | undefined => {
      const v = q.get(name);
      return v === null ? undefined : Number(v);
    };
    try {
      const what = `${req.method} ${url.pathname.slice('/__standin/'.length)}`;
      switch (what) {
        case 'GET expected':
          return send(200, Object.fromEntries(this.expectedTrades()));
        case 'GET released':
          return send(200, Object.fromEntries(this.releasedTrades()));
        case 'GET stats':
          return send(200, { ...this.stats, serverTime: this.serverTime(), finished: this.isFinished });
        case 'GET connections':
          return send(200, this.connections());
        case 'GET requests':
          return send(200, this.requests());
        case 'POST play':
          this.play();
          return send(200, { playing: this.playing });
        case 'POST advance': {
          const to = num('to');
          const released = to !== undefined ? this.advanceTo(to) : this.advance(num('n') ?? 1);
          return send(200, { released, serverTime: this.serverTime() });
        }
        case 'POST cut': {
          const mode = (q.get('mode') ?? 'abrupt') as CutMode;
          if (mode !== 'abrupt' && mode !== 'clean') return send(400, { error: 'mode must be abrupt or clean' });
          const id = num('id');
          return send(200, id !== undefined ? { cut: this.cutOne(mode, id) === undefined ? 0 : 1 } : { cut: this.cutAll(mode) });
        }
        case 'POST stall':
          this.stall(num('id') ?? NaN, num('ms') ?? 0);
          return send(200, {});
        case 'POST hold-rest': {
          const e = q.get('endpoint');
          this.holdRest(e === null ? undefined : [e as RestEndpoint]);
          return send(200, {});
        }
        case 'POST release-rest':
          return send(200, { released: this.releaseRest() });
        case 'POST garbage':
          return send(200, { sent: this.injectGarbage((q.get('kind') ?? 'not-json') as GarbageKind, num('id')) });
        default:
          return send(404, { error: `unknown control ${what}` });
      }
    } catch (e) {
      return send(400, { error: e instanceof Error ? e.message : String(e) });
    }
  }

  // ------------------------------------------------------------------------------------------------------

  /** Stops playback, closes every connection (1001, terminated after 1 s) and the server. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    if (typeof this.speed === 'number' && this.playing) this.playhead = Math.max(this.playhead, Math.floor(this.timeline.start + (Date.now() - this.playWall) * this.speed));
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    const open = [...this.conns.values()].filter((c) => c.open);
    await Promise.all(open.map((c) => new Promise<void>((resolve) => {
      c.closeReason ??= 'standin-closed';
      const t = setTimeout(() => c.ws.terminate(), CLOSE_GRACE_MS);
      c.ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      if (c.ws.readyState === WebSocket.OPEN) c.ws.close(1001, 'Server shutting down');
      else c.ws.terminate();
    })));
    this.wss.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private flagged(bit: number): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const [s, list] of this.timeline.bySymbol) {
      const ids = list.filter((t) => (this.flags[t.seq]! & bit) !== 0).map((t) => t.aggId);
      if (ids.length > 0) out.set(s, ids);
    }
    return out;
  }
}

function publicTrade(t: LoadedTrade): StandinTrade {
  return {
    symbol: t.symbol, aggId: t.aggId, firstTradeId: t.firstTradeId, lastTradeId: t.lastTradeId, price: t.price, quantity: t.quantity,
    tradeTime: t.tradeTime, eventTime: t.eventTime, isBuyerMaker: t.isBuyerMaker, file: t.file,
  };
}
