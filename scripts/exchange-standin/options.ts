/**
 * Options of the exchange stand-in (see ./standin.ts for the behaviour). Every time in `trouble` is an
 * OFFSET in timeline milliseconds from the timeline's start (the first frame's event time after shifting),
 * so a test does not need to know where the shift put the data.
 */

export type Market = 'usdm' | 'spot';

/** A number = that many times real time; 'max' = as fast as possible; 'manual' = only advance()/advanceTo(). */
export type Speed = number | 'max' | 'manual';

export type CutMode = 'abrupt' | 'clean';
export type CutTarget = 'all' | 'one';

export type GarbageKind =
  | 'not-json'
  | 'missing-field'
  | 'number-price'
  | 'negative-quantity'
  | 'unknown-event'
  | 'oversized'
  | 'subscription-reply'
  /** A copy of a real trade with T and E in microseconds: the parser accepts it, the producer's time rules do not. */
  | 'microsecond-times';

export const GARBAGE_KINDS: readonly GarbageKind[] = [
  'not-json',
  'missing-field',
  'number-price',
  'negative-quantity',
  'unknown-event',
  'oversized',
  'subscription-reply',
  'microsecond-times',
];

/** Named REST failures: see rest.ts for the exact answers. */
export type RestFailureKind = 'rate-limit' | 'server-error' | 'html' | 'json-error';
export interface CustomRestFailure {
  status: number;
  body: string;
  /** Default application/json. */
  contentType?: string;
  retryAfterSeconds?: number;
}
export type RestFailure = RestFailureKind | CustomRestFailure;
export type RestEndpoint = 'exchangeInfo' | 'aggTrades' | 'klines' | 'ping' | 'time' | 'other';

/** One recorded frames file, optionally with its symbols renamed (e.g. two BTCUSDT days as two symbols). */
export interface TimelineFile {
  path: string;
  /** Exchange symbol -> new symbol (uppercase), applied to "s" and to the stream name. */
  renameSymbols?: Record<string, string>;
}

/** exchangeInfo fields of one symbol; unset fields are derived from the data (or sensible defaults). */
export interface SymbolInfo {
  symbol: string;
  /** Default TRADING. USD-M also knows PENDING_TRADING, SETTLING, CLOSE, ...; spot BREAK, HALT, ... */
  status?: string;
  /** USD-M only; default PERPETUAL. */
  contractType?: string;
  /** USD-M only; default = symbol without a delivery suffix. */
  pair?: string;
  baseAsset?: string;
  quoteAsset?: string;
  /** Default: the most decimals of a price on the timeline (2 for an extra symbol). */
  pricePrecision?: number;
  /** Default: the most decimals of a quantity on the timeline (3 for an extra symbol). */
  quantityPrecision?: number;
  /** USD-M only; default 4133404800000 (2100-12-25) for perpetuals. */
  deliveryDate?: number;
  /** USD-M only; default the listing time (listMidStream) or a year before the timeline starts. */
  onboardDate?: number;
}

export interface CutSpec {
  offsetMs: number;
  mode?: CutMode;
  target?: CutTarget;
}

export interface TroubleOptions {
  /** Terminate WebSocket connections at given timeline offsets and/or at random moments. */
  cutConnections?: {
    at?: CutSpec[];
    /** Random cuts: a seeded Poisson process with this many cuts per timeline minute. */
    randomPerMinute?: number;
    /**
     * Every connection is cut (in `mode`) a seeded random wall-clock time in [minMs, maxMs] after it opened,
     * each on its own schedule: an exchange that drops connections every few seconds. Two connections of the
     * same streams are never cut by one event, so a client with two feeds can ride through each cut.
     */
    everyConnectionAfterMs?: { minMs: number; maxMs: number };
    /** Defaults for `at` entries and for the random cuts: 'abrupt', 'all'. */
    mode?: CutMode;
    target?: CutTarget;
  };
  /** Push some frames twice in a row (still one trade in REST and in expectedTrades). */
  duplicateFrames?: { fraction?: number; aggIds?: number[] };
  /** Never push some frames on the WebSocket; they are in REST like every released trade. */
  withholdFrames?: {
    fraction?: number;
    aggIds?: number[];
    /** WS blackouts: every frame with event time in [fromOffsetMs, toOffsetMs) (of these symbols, default all). */
    blackouts?: Array<{ fromOffsetMs: number; toOffsetMs: number; symbols?: string[] }>;
  };
  /**
   * Malformed or foreign frames injected into the stream of every connection that has a subscription, each
   * right before a seeded random trade. `count` defaults to one of each kind; kinds are used in turn.
   */
  garbageLines?: { kinds?: GarbageKind[]; count?: number; oversizeBytes?: number };
  /** Symbols listed mid-stream: their trades before the offset are dropped from the timeline and the symbol is in exchangeInfo only from then on. */
  listMidStream?: Array<{ symbol: string; offsetMs: number }>;
  /** Scripted REST failures: the first N matching requests, and/or a seeded fraction of them; kinds in turn. */
  restFailures?: {
    first?: number;
    fraction?: number;
    kinds?: RestFailure[];
    /** Default ['aggTrades', 'exchangeInfo']. */
    endpoints?: RestEndpoint[];
    /** Retry-After of the 'rate-limit' kind, default 1. */
    retryAfterSeconds?: number;
  };
  /**
   * The stand-in's klines count one trade more than it ever sent: a maker-side trade of `symbol` at the time
   * and price of its first trade at or after `atOffsetMs`, with `quantity` (default one step of that trade's
   * quantity decimals). Every kline holding it differs in count, volume and quote volume only.
   */
  disagreeKlines?: { symbol: string; atOffsetMs: number; quantity?: string };
}

/** The exchange's own klines to serve for one symbol and interval instead of the built ones. */
export interface BundledKlinesFile {
  /** A klines-<interval>.csv of data/binance in the exchange's 12-column layout. */
  path: string;
  symbol: string;
  interval: string;
  /** Index in `files` whose timeline shift applies to these klines; default 0. */
  file?: number;
}

export interface RestOptions {
  /** Request weight per minute and IP; default 2400 (usdm) / 6000 (spot). Over it: 429. */
  weightLimitPerMinute?: number;
  /**
   * 418 escalation: `after` requests sent while a 429's Retry-After has not passed earn an IP ban of `banMs`
   * (default { after: 2, banMs: 120_000 }); false = 429 only.
   */
  ban?: false | { after?: number; banMs?: number };
  /** Clock of the weight windows and bans (default Date.now); tests pass a fixed clock. */
  now?: () => number;
  /** REST only serves trades newer than serverTime - historyMs; default: all of them. */
  historyMs?: number;
}

export interface ExchangeStandinOptions {
  /** Recorded frame files (aggtrade-frames.jsonl.gz style; gzip or not; receive timestamps allowed). */
  files: Array<string | TimelineFile>;
  /** Default 'usdm'. */
  market?: Market;
  /** Default 1 (real time). */
  speed?: Speed;
  /** 'max' only: frames released per event-loop turn (default 256). */
  maxBatch?: number;
  /** 'start': every file shifted to begin when the first file begins (see shiftUnitMs); 'none' (default): original times. */
  align?: 'start' | 'none';
  /** Shift the whole timeline so it starts at (or less than shiftUnitMs before) this epoch ms. */
  shiftTo?: number;
  /**
   * Every shift is a whole multiple of this (default 86_400_000, one day), so klines of every interval up to
   * 1d keep their boundaries and equal the exchange's klines of the original day, only moved. 60_000 keeps
   * minute alignment only; 1 allows exact alignment (klines then differ from the recorded ones).
   */
  shiftUnitMs?: number;
  /** When playback begins: 'call' (default: play()), 'start' (right away), 'first-subscription'. */
  playOn?: 'call' | 'start' | 'first-subscription';
  /** Default 0 (any free port). Always 127.0.0.1. */
  port?: number;
  /** Default 1. */
  seed?: number;
  /** Default 180_000 (usdm) / 20_000 (spot), as the exchange. */
  pingIntervalMs?: number;
  /** No pong this long after a ping: terminated. Default 600_000 (usdm) / 60_000 (spot). */
  pongTimeoutMs?: number;
  /** Default 24 h. */
  maxConnectionAgeMs?: number;
  /** Incoming messages (text and pings, not pongs) per second before the connection is closed; default 10. */
  maxIncomingPerSecond?: number;
  /** Default 1024. */
  maxStreamsPerConnection?: number;
  rest?: RestOptions;
  /** exchangeInfo overrides for timeline symbols, and extra symbols without trades (see SAMPLE_EXTRA_SYMBOLS). */
  symbols?: SymbolInfo[];
  trouble?: TroubleOptions;
  /** Klines served from files (the exchange's own) rather than built from the timeline's trades. */
  bundledKlines?: BundledKlinesFile[];
}

/** Symbols to add to exchangeInfo so a producer's "all TRADING perpetuals" filter has something to filter. */
export const SAMPLE_EXTRA_SYMBOLS: Readonly<Record<Market, readonly SymbolInfo[]>> = {
  usdm: [
    { symbol: 'BTCUSDT_260626', pair: 'BTCUSDT', contractType: 'CURRENT_QUARTER', deliveryDate: 1782460800000, status: 'TRADING' },
    { symbol: 'SRMUSDT', contractType: 'PERPETUAL', status: 'SETTLING', pricePrecision: 4, quantityPrecision: 0 },
  ],
  spot: [{ symbol: 'SRMUSDT', status: 'BREAK', pricePrecision: 4, quantityPrecision: 1 }],
};
