/**
 * REST client for the exchange's public market data: `exchangeInfo` (symbols) and `aggTrades` (backfills).
 *
 * What it guarantees:
 * - Request weight: never more than B = `min(weightPerMinute, paths.exchangeWeightLimitPerMinute)` per
 *   minute, and spread over the minute rather than spent at its start. The exchange counts weight per IP in
 *   fixed clock minutes (a minute starts every minute), so the budget is a fixed window `floor(now / 60 s)`;
 *   within it, what may have been spent by time t is the pace `burst + B * (t - minute start) / 60 s`
 *   (burst = B / 30, two seconds' worth, at least one request), capped at B. So a backlog goes out at B per
 *   minute evenly (USD-M: 2,400 weight = two aggTrades calls a second), never all in the first 0.3 s.
 *   Every request reserves its weight before it is sent; requests that do not fit wait (one timer, no
 *   polling) in one FIFO queue shared by all callers, so concurrent backfills take turns in call order.
 *   Each answer's `X-MBX-USED-WEIGHT-1M` (what the exchange counted for this IP, other processes included: a
 *   producer restarted in the same minute, a second one) raises the estimate: used = max(used, header +
 *   weight still in flight), and the pace then waits until the minute's allowance passes what others spent.
 *   The header is applied only if the request was sent in the current local window, so a count from the
 *   previous exchange minute does not fill the new one. The estimate never goes down within a window
 *   (conservative). A single request heavier than the whole budget is let through alone in an empty window.
 * - `get(path, params, weight)`: the same budget, header, 429/418 pauses and retries for any other GET of
 *   the market-data API (e.g. `/klines`), for clients built on this one.
 * - 429 (rate limit): every request of this client waits until `Retry-After` (seconds; HTTP date accepted;
 *   missing = the next minute), then the request is retried. That pause is what keeps the IP from being
 *   banned. 418 (IP banned): the same with the ban's length (Retry-After, or the "banned until <ms>" in the
 *   body, whichever is later; missing = 2 min), `bannedUntil` set, logged as an error. When retries run out
 *   the call fails with EXCHANGE_HTTP (429) or EXCHANGE_BANNED (418); the pause still holds for later calls.
 * - 5xx, network errors, timeouts: retried with full-jitter exponential backoff (random in
 *   [0, min(15 s, 500 ms * 2^attempt)]) up to `maxRetries` (default 5) retries, then EXCHANGE_HTTP (5xx:
 *   URL, status, first 200 chars of the body) or EXCHANGE_UNREACHABLE (network, timeout).
 * - Other 4xx (e.g. 400 `{"code":-1121,"msg":"Invalid symbol."}`): not retried, EXCHANGE_HTTP with the
 *   exchange's code and msg.
 * - Bad answers (2xx that is not JSON, such as an HTML error page; a JSON error object; an array whose
 *   elements lack fields or have the wrong types; ids not ascending): EXCHANGE_BAD_ANSWER naming the
 *   problem. Nothing here throws outside the returned promise; callers catch.
 * - Prices and quantities: decimal strings converted once with Number() (the nearest double), exactly like
 *   the WebSocket frame parser, so a backfilled trade and a live trade of the same id are the same numbers.
 *
 * HTTP: Node's global fetch (undici), which keeps connections alive by default; every request has its own
 * timeout (covering headers and body) and is aborted by close(). No secrets are ever part of these URLs
 * (public market data), so URLs are quoted in errors and logs as they are.
 */
import { KlinestreamError } from '../errors';
import type { MarketPaths } from '../config/config';
import type { Logger } from '../observability/log';

export interface RestAggTrade {
  aggId: number;
  price: number;
  quantity: number;
  firstTradeId: number;
  lastTradeId: number;
  tradeTime: number;
  isBuyerMaker: boolean;
}

export interface ExchangeSymbol {
  symbol: string;
  status: string;
  /** USD-M: PERPETUAL, CURRENT_QUARTER, ...; spot: undefined. */
  contractType: string | undefined;
  baseAsset: string;
  quoteAsset: string;
  /**
   * USD-M: the exchange's `pricePrecision`. Spot has none: the decimals of PRICE_FILTER.tickSize when the
   * filter is there (what a price can actually carry), else `quoteAssetPrecision` / `quotePrecision`.
   */
  pricePrecision: number;
  /**
   * USD-M: the exchange's `quantityPrecision`. Spot: the decimals of LOT_SIZE.stepSize when present, else
   * `baseAssetPrecision`.
   */
  quantityPrecision: number;
}

/** Optional hooks; the producer wires prom-client counters to them. */
export interface RestMetrics {
  /**
   * One per HTTP attempt (and per bad answer). `endpoint`: `aggTrades` or `exchangeInfo`. `outcome`: ok,
   * rate_limited (429), banned (418), server_error (5xx), client_error (other 4xx), timeout, network_error,
   * bad_answer.
   */
  requests(endpoint: string, outcome: string): void;
  /** Weight of each request sent (a counter increment). */
  weightUsed(weight: number): void;
}

export interface BinanceRestOptions {
  baseUrl: string;
  paths: MarketPaths;
  weightPerMinute: number;
  log: Logger;
  metrics?: RestMetrics;
  /** Per attempt, headers and body; default 10 s. */
  timeoutMs?: number;
  /** Retries after the first attempt for 5xx, network errors, timeouts, 429 and 418; default 5. */
  maxRetries?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const MINUTE_MS = 60_000;
const AGG_TRADES_MAX_LIMIT = 1000;
/** The exchange wants endTime - startTime < 1 h when both are given; both bounds are inclusive. */
const ONE_HOUR_MINUS_1_MS = 3_600_000 - 1;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15_000;
const DEFAULT_BAN_MS = 120_000;
const BODY_SNIPPET = 200;
const DECIMAL = /^[0-9]+(?:\.[0-9]+)?$/;

interface Waiter {
  weight: number;
  resolve(): void;
  reject(e: unknown): void;
}

type Attempt =
  | { kind: 'ok'; status: number; body: string; usedWeight: number | undefined }
  | { kind: 'http'; status: number; body: string; usedWeight: number | undefined; retryAfterMs: number | undefined }
  | { kind: 'failed'; outcome: 'timeout' | 'network_error'; error: unknown };

export class BinanceRest {
  private readonly baseUrl: string;
  private readonly paths: MarketPaths;
  private readonly budget: number;
  /** What may be spent at once at the start of a minute (see the header: the pace). */
  private readonly burst: number;
  private readonly log: Logger;
  private readonly metrics: RestMetrics | undefined;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly now: () => number;
  private readonly sleepImpl: (ms: number) => Promise<void>;

  private serverTime: number | undefined;
  private windowIndex = -1;
  private used = 0;
  private inFlightWeight = 0;
  private pausedUntil = 0;
  private banUntil = 0;
  private readonly queue: Waiter[] = [];
  private pumping = false;
  private closed = false;
  private readonly closeController = new AbortController();
  private readonly closedSignal: Promise<void>;
  private signalClosed!: () => void;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(options: BinanceRestOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.paths = options.paths;
    if (!(options.weightPerMinute > 0)) throw new RangeError(`weightPerMinute must be > 0, got ${options.weightPerMinute}`);
    this.budget = Math.min(options.weightPerMinute, options.paths.exchangeWeightLimitPerMinute);
    this.burst = this.budget / 30;
    this.log = options.log;
    this.metrics = options.metrics;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxRetries = options.maxRetries ?? 5;
    this.now = options.now ?? Date.now;
    this.sleepImpl = options.sleep ?? ((ms) => this.timerSleep(ms));
    this.closedSignal = new Promise<void>((resolve) => {
      this.signalClosed = resolve;
    });
  }

  /** Weight this client counts as used in the current minute (its own reservations, raised by the exchange's header). */
  get weightUsedThisMinute(): number {
    this.roll(this.now());
    return this.used;
  }

  /**
   * The exchange's clock (`serverTime`) in the last exchangeInfo answer that carried one; undefined before.
   * On the exchange's own clock, so it compares with trade and event times whatever the local clock says.
   */
  get lastServerTime(): number | undefined {
    return this.serverTime;
  }

  /** Epoch ms until which the exchange said this IP is banned (418); 0 if never. */
  get bannedUntil(): number {
    return this.banUntil;
  }

  /**
   * A weighted GET of any market-data endpoint below the REST prefix (e.g. `/klines`), sharing this client's
   * budget, pace, used-weight header, 429/418 pauses and retries. Returns the parsed JSON; an answer that is
   * not JSON or is an exchange error object is EXCHANGE_BAD_ANSWER; other failures as described above.
   * `endpoint` names it in metrics and logs (default: the path without its slash).
   */
  async get(path: string, params: Record<string, string>, weight: number, endpoint = path.replace(/^\/+/, '')): Promise<{ url: string; json: unknown }> {
    if (!path.startsWith('/')) throw new RangeError(`path must start with "/", got ${JSON.stringify(path)}`);
    if (!(Number.isFinite(weight) && weight >= 0)) throw new RangeError(`weight must be a non-negative number, got ${weight}`);
    const { url, body } = await this.request(endpoint, path, params, weight);
    return { url, json: this.json(endpoint, url, body) };
  }

  async exchangeInfo(): Promise<ExchangeSymbol[]> {
    const { url, body } = await this.request('exchangeInfo', '/exchangeInfo', {}, this.paths.exchangeInfoWeight);
    const root = this.json('exchangeInfo', url, body);
    const problem = (p: string): KlinestreamError => this.badAnswer('exchangeInfo', url, p, body);
    if (!isObject(root)) throw problem('not a JSON object');
    const symbols = root.symbols;
    if (!Array.isArray(symbols)) throw problem('field "symbols" is not an array');
    const out: ExchangeSymbol[] = [];
    for (let i = 0; i < symbols.length; i++) {
      const s: unknown = symbols[i];
      const where = `symbols[${i}]`;
      if (!isObject(s)) throw problem(`${where} is not an object`);
      const name = s.symbol;
      if (typeof name !== 'string' || name === '') throw problem(`${where}.symbol is not a non-empty string`);
      const at = `${where} (${name.slice(0, 40)})`;
      for (const key of ['status', 'baseAsset', 'quoteAsset'] as const) {
        if (typeof s[key] !== 'string') throw problem(`${at}.${key} is not a string`);
      }
      const contractType = s.contractType;
      if (contractType !== undefined && typeof contractType !== 'string') throw problem(`${at}.contractType is not a string`);
      const pricePrecision = precision(s, 'PRICE_FILTER', 'tickSize', ['pricePrecision', 'quoteAssetPrecision', 'quotePrecision']);
      if (pricePrecision === undefined) throw problem(`${at} has no price precision (pricePrecision, PRICE_FILTER.tickSize or quotePrecision)`);
      const quantityPrecision = precision(s, 'LOT_SIZE', 'stepSize', ['quantityPrecision', 'baseAssetPrecision']);
      if (quantityPrecision === undefined) throw problem(`${at} has no quantity precision (quantityPrecision, LOT_SIZE.stepSize or baseAssetPrecision)`);
      out.push({
        symbol: name,
        status: s.status as string,
        contractType,
        baseAsset: s.baseAsset as string,
        quoteAsset: s.quoteAsset as string,
        pricePrecision,
        quantityPrecision,
      });
    }
    if (typeof root.serverTime === 'number' && Number.isSafeInteger(root.serverTime) && root.serverTime > 0) this.serverTime = root.serverTime;
    return out;
  }

  /** Trades with id >= fromId, ascending, at most `limit` (<= 1000). */
  async aggTrades(symbol: string, fromId: number, limit = AGG_TRADES_MAX_LIMIT): Promise<RestAggTrade[]> {
    checkLimit(limit);
    if (!Number.isSafeInteger(fromId) || fromId < 0) throw new RangeError(`fromId must be a safe non-negative integer, got ${fromId}`);
    const { url, body } = await this.request('aggTrades', '/aggTrades', { symbol, fromId: String(fromId), limit: String(limit) }, this.paths.aggTradesWeight);
    return this.aggTradeList(url, body, limit, (t) => (t.aggId < fromId ? `trade ${t.aggId} is below fromId ${fromId}` : undefined));
  }

  /**
   * First trades with tradeTime >= startTime, ascending by id, at most `limit`. Sent as startTime and
   * endTime = startTime + 1 h - 1 ms (the exchange needs endTime - startTime < 1 h when both are given), so an
   * empty answer means no trade in [startTime, startTime + 1 h).
   */
  async aggTradesFrom(symbol: string, startTime: number, limit = AGG_TRADES_MAX_LIMIT): Promise<RestAggTrade[]> {
    checkLimit(limit);
    if (!Number.isSafeInteger(startTime) || startTime < 0) throw new RangeError(`startTime must be a safe non-negative integer, got ${startTime}`);
    const endTime = startTime + ONE_HOUR_MINUS_1_MS;
    const params = { symbol, startTime: String(startTime), endTime: String(endTime), limit: String(limit) };
    const { url, body } = await this.request('aggTrades', '/aggTrades', params, this.paths.aggTradesWeight);
    return this.aggTradeList(url, body, limit, (t) =>
      t.tradeTime < startTime || t.tradeTime > endTime ? `trade ${t.aggId} time ${t.tradeTime} is outside [${startTime}, ${endTime}]` : undefined,
    );
  }

  /** Stops everything: waiting calls fail, in-flight requests are aborted, timers cleared. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeController.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.signalClosed();
    const waiting = this.queue.splice(0);
    for (const w of waiting) w.reject(this.closedError());
  }

  // ---------------------------------------------------------------------------------------------------------

  private closedError(): KlinestreamError {
    return new KlinestreamError('EXCHANGE_UNREACHABLE', 'exchange REST client closed', { closed: true });
  }

  private async request(endpoint: string, path: string, params: Record<string, string>, weight: number): Promise<{ url: string; body: string }> {
    const query = new URLSearchParams(params).toString();
    const url = `${this.baseUrl}${this.paths.restPrefix}${path}${query ? `?${query}` : ''}`;
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw this.closedError();
      await this.acquire(weight);
      const sentWindow = this.windowIndex;
      this.metrics?.weightUsed(weight);
      let result: Attempt;
      try {
        result = await this.attempt(url);
      } finally {
        this.inFlightWeight -= weight;
      }
      if (this.closed) throw this.closedError();
      const retriesLeft = attempt < this.maxRetries;

      if (result.kind === 'failed') {
        this.metrics?.requests(endpoint, result.outcome);
        const what = result.outcome === 'timeout' ? `no answer within ${this.timeoutMs} ms` : errorText(result.error);
        if (retriesLeft) {
          const delay = this.backoff(attempt);
          this.log.warn('exchange REST request failed, retrying', { url, problem: what, attempt: attempt + 1, retryInMs: delay });
          await this.wait(delay);
          continue;
        }
        throw new KlinestreamError('EXCHANGE_UNREACHABLE', `GET ${url}: ${what} (after ${attempt + 1} attempts)`, { url, attempts: attempt + 1 }, { cause: result.error });
      }

      this.resync(result.usedWeight, sentWindow);
      const { status, body } = result;
      if (result.kind === 'ok') {
        this.metrics?.requests(endpoint, 'ok');
        return { url, body };
      }

      const snippet = body.slice(0, BODY_SNIPPET);
      const err = exchangeError(body);
      if (status === 429 || status === 418) {
        const banned = status === 418;
        const now = this.now();
        let until = now + (result.retryAfterMs ?? (banned ? DEFAULT_BAN_MS : Math.max(1000, (Math.floor(now / MINUTE_MS) + 1) * MINUTE_MS - now)));
        if (banned) {
          const m = /banned until (\d{12,14})/.exec(body);
          if (m) until = Math.max(until, Number(m[1]));
          this.banUntil = Math.max(this.banUntil, until);
        }
        this.pausedUntil = Math.max(this.pausedUntil, until);
        this.metrics?.requests(endpoint, banned ? 'banned' : 'rate_limited');
        const fields = { url, status, pausedUntil: new Date(this.pausedUntil).toISOString(), pauseMs: this.pausedUntil - now, body: snippet, willRetry: retriesLeft };
        if (banned) this.log.error('exchange banned this IP (418): all REST requests paused', fields);
        else this.log.warn('exchange rate limit (429): all REST requests paused', fields);
        if (retriesLeft) continue; // acquire() waits for the pause
        if (banned) {
          throw new KlinestreamError('EXCHANGE_BANNED', `GET ${url}: HTTP 418, IP banned until ${new Date(this.banUntil).toISOString()}`, { url, status, bannedUntil: this.banUntil, body: snippet });
        }
        throw new KlinestreamError('EXCHANGE_HTTP', `GET ${url}: HTTP 429 rate limited (after ${attempt + 1} attempts): ${snippet}`, { url, status, body: snippet });
      }
      if (status >= 500) {
        this.metrics?.requests(endpoint, 'server_error');
        if (retriesLeft) {
          const delay = this.backoff(attempt);
          this.log.warn('exchange REST server error, retrying', { url, status, body: snippet, attempt: attempt + 1, retryInMs: delay });
          await this.wait(delay);
          continue;
        }
        throw new KlinestreamError('EXCHANGE_HTTP', `GET ${url}: HTTP ${status} (after ${attempt + 1} attempts): ${snippet}`, { url, status, body: snippet, attempts: attempt + 1 });
      }
      this.metrics?.requests(endpoint, 'client_error');
      if (err) {
        throw new KlinestreamError('EXCHANGE_HTTP', `GET ${url}: HTTP ${status}, exchange error ${err.code}: ${err.msg.slice(0, BODY_SNIPPET)}`, { url, status, code: err.code, msg: err.msg });
      }
      throw new KlinestreamError('EXCHANGE_HTTP', `GET ${url}: HTTP ${status}: ${snippet}`, { url, status, body: snippet });
    }
  }

  /** One HTTP attempt; never throws (except on close, checked by the caller). */
  private async attempt(url: string): Promise<Attempt> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    const onClose = (): void => controller.abort();
    this.closeController.signal.addEventListener('abort', onClose);
    try {
      const res = await fetch(url, { method: 'GET', headers: { accept: 'application/json' }, signal: controller.signal });
      const body = await res.text();
      const header = res.headers.get('x-mbx-used-weight-1m');
      const usedWeight = header !== null && /^\d+$/.test(header.trim()) ? Number(header.trim()) : undefined;
      if (res.ok) return { kind: 'ok', status: res.status, body, usedWeight };
      return { kind: 'http', status: res.status, body, usedWeight, retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), this.now()) };
    } catch (e) {
      return { kind: 'failed', outcome: timedOut ? 'timeout' : 'network_error', error: e };
    } finally {
      clearTimeout(timer);
      this.closeController.signal.removeEventListener('abort', onClose);
    }
  }

  /** Raises this minute's estimate to what the exchange says it counted (X-MBX-USED-WEIGHT-1M). */
  private resync(header: number | undefined, sentWindow: number): void {
    if (header === undefined) return;
    this.roll(this.now());
    if (sentWindow !== this.windowIndex) return;
    this.used = Math.max(this.used, header + this.inFlightWeight);
  }

  private backoff(attempt: number): number {
    return Math.floor(Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt));
  }

  private roll(now: number): void {
    const w = Math.floor(now / MINUTE_MS);
    if (w !== this.windowIndex) {
      this.windowIndex = w;
      this.used = 0;
    }
  }

  /** Waits (FIFO) until `weight` fits into this minute's budget and no 429/418 pause holds. */
  private acquire(weight: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ weight, resolve, reject });
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const now = this.now();
        if (now < this.pausedUntil) {
          await this.wait(this.pausedUntil - now);
          continue;
        }
        this.roll(now);
        const head = this.queue[0]!;
        if (this.used > 0 && this.used + head.weight > this.budget) {
          await this.wait((this.windowIndex + 1) * MINUTE_MS - now);
          continue;
        }
        // The pace: by now at most burst + B * (elapsed part of the minute) may have been spent.
        const start = this.windowIndex * MINUTE_MS;
        const burst = Math.max(this.burst, head.weight);
        const need = this.used + head.weight;
        if (this.used > 0 && need > burst + (this.budget * (now - start)) / MINUTE_MS) {
          const at = start + ((need - burst) / this.budget) * MINUTE_MS;
          await this.wait(Math.max(1, Math.ceil(at - now)));
          continue;
        }
        this.queue.shift();
        this.used += head.weight;
        this.inFlightWeight += head.weight;
        head.resolve();
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Sleeps (injected or a tracked timer), cut short by close(). */
  private wait(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return Promise.race([this.sleepImpl(Math.max(0, ms)), this.closedSignal]);
  }

  private timerSleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  private json(endpoint: string, url: string, body: string): unknown {
    let root: unknown;
    try {
      root = JSON.parse(body);
    } catch {
      const looksHtml = /^\s*</.test(body);
      throw this.badAnswer(endpoint, url, looksHtml ? 'an HTML page, not JSON' : 'not JSON', body);
    }
    const err = isObject(root) ? errorObject(root) : undefined;
    if (err) {
      this.metrics?.requests(endpoint, 'bad_answer');
      throw new KlinestreamError('EXCHANGE_BAD_ANSWER', `GET ${url}: exchange error ${err.code}: ${err.msg.slice(0, BODY_SNIPPET)}`, { url, code: err.code, msg: err.msg });
    }
    return root;
  }

  private badAnswer(endpoint: string, url: string, problem: string, body: string): KlinestreamError {
    this.metrics?.requests(endpoint, 'bad_answer');
    const snippet = body.slice(0, BODY_SNIPPET);
    this.log.warn('exchange REST bad answer', { url, problem, body: snippet });
    return new KlinestreamError('EXCHANGE_BAD_ANSWER', `GET ${url}: bad answer: ${problem}`, { url, problem, body: snippet });
  }

  private aggTradeList(url: string, body: string, limit: number, extra: (t: RestAggTrade) => string | undefined): RestAggTrade[] {
    const root = this.json('aggTrades', url, body);
    if (!Array.isArray(root)) throw this.badAnswer('aggTrades', url, 'not a JSON array', body);
    if (root.length > limit) throw this.badAnswer('aggTrades', url, `${root.length} trades for limit ${limit}`, body);
    const out: RestAggTrade[] = new Array<RestAggTrade>(root.length);
    let previous = -1;
    for (let i = 0; i < root.length; i++) {
      const t = parseAggTrade(root[i]);
      if (typeof t === 'string') throw this.badAnswer('aggTrades', url, `trade [${i}]: ${t}`, body);
      if (t.aggId <= previous) throw this.badAnswer('aggTrades', url, `trade [${i}]: id ${t.aggId} does not follow ${previous} (ids must be ascending and unique)`, body);
      const problem = extra(t);
      if (problem !== undefined) throw this.badAnswer('aggTrades', url, `trade [${i}]: ${problem}`, body);
      previous = t.aggId;
      out[i] = t;
    }
    return out;
  }
}

// -----------------------------------------------------------------------------------------------------------

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > AGG_TRADES_MAX_LIMIT) throw new RangeError(`limit must be 1..${AGG_TRADES_MAX_LIMIT}, got ${limit}`);
}

function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  const causeText = cause instanceof Error ? `: ${(cause as { code?: string }).code ?? cause.message}` : '';
  return `${e.message}${causeText}`;
}

/** `{"code": <number>, "msg": <string>}`: the exchange's error payload. */
function errorObject(o: JsonObject): { code: number; msg: string } | undefined {
  if (typeof o.code === 'number' && typeof o.msg === 'string') return { code: o.code, msg: o.msg };
  return undefined;
}

function exchangeError(body: string): { code: number; msg: string } | undefined {
  if (!body.trimStart().startsWith('{')) return undefined;
  try {
    const o: unknown = JSON.parse(body);
    return isObject(o) ? errorObject(o) : undefined;
  } catch {
    return undefined;
  }
}

/** Retry-After in ms: delta-seconds, or an HTTP date; undefined when missing or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  if (Number.isFinite(date)) return Math.max(0, date - now);
  return undefined;
}

function safeId(o: JsonObject, key: string, name: string): number | string {
  const v = o[key];
  if (v === undefined) return `field "${key}" (${name}) missing`;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return `field "${key}" (${name}) is not a safe non-negative integer: ${JSON.stringify(v)?.slice(0, 40)}`;
  return v + 0;
}

function positiveDecimal(o: JsonObject, key: string, name: string): number | string {
  const v = o[key];
  if (v === undefined) return `field "${key}" (${name}) missing`;
  if (typeof v !== 'string') return `field "${key}" (${name}) must be a decimal string, got ${JSON.stringify(v)?.slice(0, 40)}`;
  if (!DECIMAL.test(v)) return `field "${key}" (${name}) is not a decimal string: ${JSON.stringify(v.slice(0, 40))}`;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) return `field "${key}" (${name}) must be > 0, got ${JSON.stringify(v.slice(0, 40))}`;
  return n;
}

/** One element of an aggTrades answer, or the problem with it. */
function parseAggTrade(v: unknown): RestAggTrade | string {
  if (!isObject(v)) return 'not an object';
  const aggId = safeId(v, 'a', 'aggId');
  if (typeof aggId === 'string') return aggId;
  const price = positiveDecimal(v, 'p', 'price');
  if (typeof price === 'string') return price;
  const quantity = positiveDecimal(v, 'q', 'quantity');
  if (typeof quantity === 'string') return quantity;
  const firstTradeId = safeId(v, 'f', 'firstTradeId');
  if (typeof firstTradeId === 'string') return firstTradeId;
  const lastTradeId = safeId(v, 'l', 'lastTradeId');
  if (typeof lastTradeId === 'string') return lastTradeId;
  if (firstTradeId > lastTradeId) return `firstTradeId ${firstTradeId} > lastTradeId ${lastTradeId}`;
  const tradeTime = safeId(v, 'T', 'tradeTime');
  if (typeof tradeTime === 'string') return tradeTime;
  const m = v.m;
  if (typeof m !== 'boolean') return m === undefined ? 'field "m" (isBuyerMaker) missing' : `field "m" (isBuyerMaker) is not a boolean: ${JSON.stringify(m)?.slice(0, 40)}`;
  return { aggId, price, quantity, firstTradeId, lastTradeId, tradeTime, isBuyerMaker: m };
}

/** Decimals of a step such as "0.01000000" (2) or "1.00000000" (0); undefined if it is not a decimal step. */
function stepDecimals(step: unknown): number | undefined {
  if (typeof step !== 'string' || !DECIMAL.test(step) || !(Number(step) > 0)) return undefined;
  const dot = step.indexOf('.');
  if (dot < 0) return 0;
  return step.slice(dot + 1).replace(/0+$/, '').length;
}

/** The first of: a direct precision field (USD-M), a filter's step decimals (spot), the asset precision fallbacks. */
function precision(s: JsonObject, filterType: string, stepKey: string, keys: readonly string[]): number | undefined {
  const direct = s[keys[0]!];
  if (typeof direct === 'number' && Number.isInteger(direct) && direct >= 0) return direct;
  const filters = s.filters;
  if (Array.isArray(filters)) {
    for (const f of filters) {
      if (isObject(f) && f.filterType === filterType) {
        const d = stepDecimals(f[stepKey]);
        if (d !== undefined) return d;
      }
    }
  }
  for (const key of keys.slice(1)) {
    const v = s[key];
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  }
  return undefined;
}
