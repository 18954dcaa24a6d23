/**
 * REST pieces of the stand-in: request weight and bans, scripted failures, the aggTrades query.
 *
 * Weight: the exchange counts weight per IP in fixed clock minutes (floor(now / 60 s)); every admitted
 * request adds its weight, the answer carries `X-MBX-USED-WEIGHT-1M`. A request that would go over the limit
 * gets 429 with `Retry-After` = seconds to the next minute and does not count. Requests sent before that
 * Retry-After has passed are violations: 429 again, and the `ban.after`-th earns 418 (IP ban) for `banMs`,
 * during which everything gets 418 with the ban's Retry-After and "banned until <ms>" in the message, as the
 * exchange words it. Scripted failures (restFailures) come after admission (they cost weight) and never
 * escalate.
 */
import type { CustomRestFailure, RestEndpoint, RestFailure } from './options';
import type { Rng } from './rng';
import type { LoadedTrade } from './timeline';

export const MINUTE_MS = 60_000;

export type Admission =
  | { ok: true; used: number }
  | { ok: false; status: 429 | 418; retryAfterSeconds: number; used: number; bannedUntil: number };

export class WeightLimiter {
  private window = -1;
  private used = 0;
  private limitedUntil = 0;
  private violations = 0;
  private bannedUntil = 0;

  constructor(
    private readonly limit: number,
    private readonly ban: { after: number; banMs: number } | undefined,
  ) {}

  usedAt(now: number): number {
    this.roll(now);
    return this.used;
  }

  admit(weight: number, now: number): Admission {
    this.roll(now);
    const secondsTo = (t: number): number => Math.max(1, Math.ceil((t - now) / 1000));
    if (now < this.bannedUntil) return { ok: false, status: 418, retryAfterSeconds: secondsTo(this.bannedUntil), used: this.used, bannedUntil: this.bannedUntil };
    if (now < this.limitedUntil) {
      this.violations++;
      if (this.ban !== undefined && this.violations >= this.ban.after) {
        this.bannedUntil = now + this.ban.banMs;
        this.limitedUntil = 0;
        this.violations = 0;
        return { ok: false, status: 418, retryAfterSeconds: secondsTo(this.bannedUntil), used: this.used, bannedUntil: this.bannedUntil };
      }
      return { ok: false, status: 429, retryAfterSeconds: secondsTo(this.limitedUntil), used: this.used, bannedUntil: 0 };
    }
    this.violations = 0;
    if (this.used + weight > this.limit) {
      this.limitedUntil = (Math.floor(now / MINUTE_MS) + 1) * MINUTE_MS;
      return { ok: false, status: 429, retryAfterSeconds: secondsTo(this.limitedUntil), used: this.used, bannedUntil: 0 };
    }
    this.used += weight;
    return { ok: true, used: this.used };
  }

  private roll(now: number): void {
    const w = Math.floor(now / MINUTE_MS);
    if (w !== this.window) {
      this.window = w;
      this.used = 0;
    }
  }
}

/** Which requests fail on purpose: the first N matching ones, a seeded fraction, and ones queued by tests. */
export class FailurePlan {
  private matched = 0;
  private failed = 0;
  private readonly queued: Array<{ failure: RestFailure; endpoint: RestEndpoint | undefined }> = [];
  private readonly endpoints: ReadonlySet<RestEndpoint>;

  constructor(
    private readonly o: { first: number; fraction: number; kinds: readonly RestFailure[]; endpoints: readonly RestEndpoint[] },
    private readonly rng: Rng,
  ) {
    this.endpoints = new Set(o.endpoints);
  }

  queue(n: number, failure: RestFailure, endpoint: RestEndpoint | undefined): void {
    for (let i = 0; i < n; i++) this.queued.push({ failure, endpoint });
  }

  next(endpoint: RestEndpoint): RestFailure | undefined {
    const q = this.queued.findIndex((e) => e.endpoint === undefined || e.endpoint === endpoint);
    if (q >= 0) return this.queued.splice(q, 1)[0]!.failure;
    if (!this.endpoints.has(endpoint) || this.o.kinds.length === 0) return undefined;
    const n = this.matched++;
    // Draw for every matching request, so the choices do not depend on how many failed before.
    const draw = this.rng();
    if (n < this.o.first || draw < this.o.fraction) return this.o.kinds[this.failed++ % this.o.kinds.length];
    return undefined;
  }
}

export interface HttpAnswer {
  status: number;
  body: string;
  contentType: string;
  headers: Record<string, string>;
}

const INTERNAL_ERROR = '{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}';
const HTML_PAGE =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>CloudFront</center>\r\n</body>\r\n</html>\r\n';

export function failureAnswer(f: RestFailure, retryAfterSeconds: number): HttpAnswer {
  if (typeof f === 'object') {
    const c: CustomRestFailure = f;
    const headers: Record<string, string> = {};
    if (c.retryAfterSeconds !== undefined) headers['Retry-After'] = String(c.retryAfterSeconds);
    return { status: c.status, body: c.body, contentType: c.contentType ?? 'application/json', headers };
  }
  switch (f) {
    case 'rate-limit':
      return {
        status: 429,
        body: '{"code":-1003,"msg":"Too many requests; please use the websocket for live updates to avoid polling the API."}',
        contentType: 'application/json',
        headers: { 'Retry-After': String(retryAfterSeconds) },
      };
    case 'server-error':
      return { status: 500, body: INTERNAL_ERROR, contentType: 'application/json', headers: {} };
    case 'html':
      return { status: 200, body: HTML_PAGE, contentType: 'text/html', headers: {} };
    case 'json-error':
      return { status: 200, body: INTERNAL_ERROR, contentType: 'application/json', headers: {} };
  }
}

export function limitAnswer(a: Exclude<Admission, { ok: true }>, limit: number): HttpAnswer {
  const msg = a.status === 418
    ? `Way too many requests; IP(127.0.0.1) banned until ${a.bannedUntil}. Please use the websocket for live updates to avoid bans.`
    : `Too many requests; current limit of IP(127.0.0.1) is ${limit} requests per minute. Please use the websocket for live updates to avoid polling the API.`;
  return {
    status: a.status,
    body: JSON.stringify({ code: -1003, msg }),
    contentType: 'application/json',
    headers: { 'Retry-After': String(a.retryAfterSeconds) },
  };
}

export function jsonError(status: number, code: number, msg: string): HttpAnswer {
  return { status, body: JSON.stringify({ code, msg }), contentType: 'application/json', headers: {} };
}

export const AGG_TRADES_DEFAULT_LIMIT = 500;
export const AGG_TRADES_MAX_LIMIT = 1000;
const HOUR_MS = 3_600_000;

/** A query parameter as a safe non-negative integer; undefined when absent; 'bad' when not one. */
export function intParam(q: URLSearchParams, name: string): number | undefined | 'bad' {
  const v = q.get(name);
  if (v === null) return undefined;
  if (!/^[0-9]{1,16}$/.test(v)) return 'bad';
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : 'bad';
}

/**
 * The exchange's aggTrades semantics over one symbol's trades (id order), released ones only:
 * fromId -> ids >= fromId; startTime / endTime -> T within [startTime, endTime] (both given: span < 1 h, else
 * -1127); startTime only -> the first trades from it; endTime only -> the last trades up to it; none -> the
 * most recent. limit: default 500, above 1000 served as 1000 (the exchange's maximum), below 1 -> -1100.
 */
export function aggTradesAnswer(
  q: URLSearchParams,
  trades: readonly LoadedTrade[],
  visible: (t: LoadedTrade) => boolean,
): HttpAnswer {
  const fromId = intParam(q, 'fromId');
  const startTime = intParam(q, 'startTime');
  const endTime = intParam(q, 'endTime');
  const limitRaw = intParam(q, 'limit');
  for (const [name, v] of [['fromId', fromId], ['startTime', startTime], ['endTime', endTime], ['limit', limitRaw]] as const) {
    if (v === 'bad') return jsonError(400, -1100, `Illegal characters found in parameter '${name}'; legal range is '^[0-9]{1,20}$'.`);
  }
  const from = fromId as number | undefined;
  const start = startTime as number | undefined;
  const end = endTime as number | undefined;
  let limit = (limitRaw as number | undefined) ?? AGG_TRADES_DEFAULT_LIMIT;
  if (limit < 1) return jsonError(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '1 - 1000'.");
  limit = Math.min(limit, AGG_TRADES_MAX_LIMIT);
  if (start !== undefined && end !== undefined && end - start >= HOUR_MS) {
    return jsonError(400, -1127, 'More than 1 hours between startTime and endTime.');
  }
  const inTime = (t: LoadedTrade): boolean => (start === undefined || t.tradeTime >= start) && (end === undefined || t.tradeTime <= end);
  const out: string[] = [];
  if (from !== undefined || start !== undefined) {
    let i = 0;
    if (from !== undefined) {
      let lo = 0;
      let hi = trades.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (trades[mid]!.aggId < from) lo = mid + 1;
        else hi = mid;
      }
      i = lo;
    }
    for (; i < trades.length && out.length < limit; i++) {
      const t = trades[i]!;
      if (visible(t) && inTime(t)) out.push(t.rest);
    }
  } else {
    for (let i = trades.length - 1; i >= 0 && out.length < limit; i--) {
      const t = trades[i]!;
      if (visible(t) && inTime(t)) out.push(t.rest);
    }
    out.reverse();
  }
  return { status: 200, body: `[${out.join(',')}]`, contentType: 'application/json', headers: {} };
}
