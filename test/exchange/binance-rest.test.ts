import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BinanceRest, parseRetryAfter, type RestMetrics } from '../../src/exchange/binance-rest';
import { MARKETS } from '../../src/config/config';
import { KlinestreamError } from '../../src/errors';
import { createLogger, type Logger } from '../../src/observability/log';

interface Seen {
  path: string;
  query: URLSearchParams;
  /** The fake clock when the request reached the server. */
  at: number;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen) => void;

let server: http.Server;
let base: string;
let handler: Handler;
let seen: Seen[];
let clock: number;
let logLines: Array<{ level: string; msg: string; [k: string]: unknown }>;
let log: Logger;
let clients: BinanceRest[];
/** A minute boundary (the exchange counts weight per clock minute). */
const T0 = 28_333_333 * 60_000;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const s: Seen = { path: url.pathname, query: url.searchParams, at: clock };
    seen.push(s);
    handler(req, res, s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  seen = [];
  clock = T0;
  logLines = [];
  log = createLogger({ level: 'debug', sink: { write: (line) => logLines.push(JSON.parse(line)) } });
  clients = [];
  handler = (_req, res) => json(res, 200, []);
});

afterEach(() => {
  for (const c of clients) c.close();
});

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

function trade(a: number, time = 1_680_652_680_000 + a): Record<string, unknown> {
  return { a, p: '28145.10', q: '0.003', f: a * 2, l: a * 2 + 1, T: time, m: a % 2 === 0 };
}

interface Counted extends RestMetrics {
  outcomes: string[];
  weight: number;
}

function counted(): Counted {
  const m: Counted = {
    outcomes: [],
    weight: 0,
    requests: (endpoint, outcome) => m.outcomes.push(`${endpoint}:${outcome}`),
    weightUsed: (w) => {
      m.weight += w;
    },
  };
  return m;
}

const sleeps: number[] = [];
/** Requests the client has sent (its weightUsed hook runs right before each fetch). */
let dispatched = 0;
/**
 * Fake sleep: advances the fake clock without waiting, but only once every request already sent has reached
 * the server, so the server stamps each request with the fake time it was sent at.
 */
async function fakeSleep(ms: number): Promise<void> {
  sleeps.push(ms);
  await new Promise((r) => setImmediate(r)); // let callers whose turn came send their requests
  await until(() => seen.length >= dispatched, 'dispatched requests to arrive');
  clock += ms;
}

function client(over: Partial<ConstructorParameters<typeof BinanceRest>[0]> = {}): BinanceRest {
  sleeps.length = 0;
  dispatched = 0;
  const metrics = over.metrics;
  const c = new BinanceRest({
    baseUrl: base,
    paths: MARKETS.usdm.paths,
    weightPerMinute: 2400,
    log,
    timeoutMs: 2000,
    maxRetries: 3,
    now: () => clock,
    sleep: fakeSleep,
    ...over,
    metrics: {
      requests: (e, o) => metrics?.requests(e, o),
      weightUsed: (w) => {
        dispatched++;
        metrics?.weightUsed(w);
      },
    },
  });
  clients.push(c);
  return c;
}

async function failure(p: Promise<unknown>): Promise<KlinestreamError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(KlinestreamError);
    return e as KlinestreamError;
  }
  throw new Error('expected a failure');
}

async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('aggTrades', () => {
  test('pages through history by fromId with the exact numbers the frame parser would give', async () => {
    const all = Array.from({ length: 2500 }, (_, i) => trade(100 + i));
    handler = (_req, res, s) => {
      expect(s.path).toBe('/fapi/v1/aggTrades');
      const from = Number(s.query.get('fromId'));
      const limit = Number(s.query.get('limit'));
      json(res, 200, all.filter((t) => (t.a as number) >= from).slice(0, limit));
    };
    const metrics = counted();
    const rest = client({ metrics });
    const got: number[] = [];
    let from = 100;
    for (;;) {
      const page = await rest.aggTrades('BTCUSDT', from, 1000);
      if (page.length === 0) break;
      for (const t of page) got.push(t.aggId);
      from = page[page.length - 1]!.aggId + 1;
    }
    expect(got).toEqual(all.map((t) => t.a));
    expect(seen.map((s) => [s.query.get('symbol'), s.query.get('fromId'), s.query.get('limit')])).toEqual([
      ['BTCUSDT', '100', '1000'],
      ['BTCUSDT', '1100', '1000'],
      ['BTCUSDT', '2100', '1000'],
      ['BTCUSDT', '2600', '1000'],
    ]);
    expect(metrics.outcomes).toEqual(Array(4).fill('aggTrades:ok'));
    expect(metrics.weight).toBe(4 * 20);

    const [first] = await rest.aggTrades('BTCUSDT', 100, 1);
    expect(first).toEqual({ aggId: 100, price: Number('28145.10'), quantity: Number('0.003'), firstTradeId: 200, lastTradeId: 201, tradeTime: 1_680_652_680_100, isBuyerMaker: true });
    expect(first!.price).toBe(28145.1);
  });

  test('aggTradesFrom sends startTime and an endTime less than 1 h later', async () => {
    handler = (_req, res, s) => json(res, 200, [trade(7, Number(s.query.get('startTime')) + 5)]);
    const rest = client();
    const t = await rest.aggTradesFrom('ETHUSDT', 1_680_000_000_000, 500);
    expect(t.map((x) => x.aggId)).toEqual([7]);
    const q = seen[0]!.query;
    expect(q.get('fromId')).toBeNull();
    expect(Number(q.get('endTime')) - Number(q.get('startTime'))).toBe(3_599_999);
    expect(q.get('limit')).toBe('500');
  });

  test('rejects a bad limit or fromId before sending anything', async () => {
    const rest = client();
    await expect(rest.aggTrades('BTCUSDT', 1, 1001)).rejects.toThrow(RangeError);
    await expect(rest.aggTrades('BTCUSDT', -1)).rejects.toThrow(RangeError);
    expect(seen).toHaveLength(0);
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['missing field', [{ ...trade(1), q: undefined }], /trade \[0\]: field "q" \(quantity\) missing/],
    ['price as a JSON number', [{ ...trade(1), p: 28145.1 }], /field "p" \(price\) must be a decimal string/],
    ['zero quantity', [{ ...trade(1), q: '0.000' }], /field "q" \(quantity\) must be > 0/],
    ['exponent price', [{ ...trade(1), p: '1e3' }], /not a decimal string/],
    ['negative id', [trade(1), { ...trade(2), a: -2 }], /trade \[1\]: field "a" \(aggId\) is not a safe non-negative integer/],
    ['unsafe id', [{ ...trade(1), f: 2 ** 53 }], /field "f" \(firstTradeId\)/],
    ['string boolean', [{ ...trade(1), m: 'true' }], /field "m" \(isBuyerMaker\) is not a boolean/],
    ['ids not ascending', [trade(5), trade(4)], /trade \[1\]: id 4 does not follow 5/],
    ['duplicate id', [trade(5), trade(5)], /id 5 does not follow 5/],
    ['first > last', [{ ...trade(3), f: 9, l: 8 }], /firstTradeId 9 > lastTradeId 8/],
    ['below fromId', [trade(0)], /below fromId 1/],
    ['an object, not an array', { a: 1 }, /not a JSON array/],
    ['element not an object', [1], /trade \[0\]: not an object/],
  ];
  test.each(bad)('bad answer: %s', async (_name, body, message) => {
    handler = (_req, res) => json(res, 200, body);
    const metrics = counted();
    const rest = client({ metrics });
    const e = await failure(rest.aggTrades('BTCUSDT', 1));
    expect(e.code).toBe('EXCHANGE_BAD_ANSWER');
    expect(e.message).toMatch(message);
    expect(metrics.outcomes).toContain('aggTrades:bad_answer');
    expect(seen).toHaveLength(1); // not retried
  });

  test('an HTML page instead of JSON is a bad answer naming it', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Maintenance</body></html>');
    };
    const e = await failure(client().aggTrades('BTCUSDT', 1));
    expect(e.code).toBe('EXCHANGE_BAD_ANSWER');
    expect(e.message).toMatch(/HTML page, not JSON/);
    expect(e.details.body).toBe('<html><body>Maintenance</body></html>');
  });

  test('a 400 error object is not retried and carries the exchange code and msg', async () => {
    handler = (_req, res) => json(res, 400, { code: -1121, msg: 'Invalid symbol.' });
    const metrics = counted();
    const e = await failure(client({ metrics }).aggTrades('NOPE', 1));
    expect(e.code).toBe('EXCHANGE_HTTP');
    expect(e.details).toMatchObject({ status: 400, code: -1121, msg: 'Invalid symbol.' });
    expect(e.message).toContain('-1121');
    expect(e.message).toContain('/fapi/v1/aggTrades?symbol=NOPE');
    expect(seen).toHaveLength(1);
    expect(metrics.outcomes).toEqual(['aggTrades:client_error']);
  });
});

describe('failures and retries', () => {
  test('5xx is retried with jittered backoff, then succeeds', async () => {
    let n = 0;
    handler = (_req, res) => (++n <= 2 ? json(res, 503, '<html>busy</html>') : json(res, 200, [trade(1)]));
    const metrics = counted();
    const rest = client({ metrics });
    expect((await rest.aggTrades('BTCUSDT', 1)).length).toBe(1);
    expect(seen).toHaveLength(3);
    expect(metrics.outcomes).toEqual(['aggTrades:server_error', 'aggTrades:server_error', 'aggTrades:ok']);
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeLessThanOrEqual(500);
    expect(sleeps[1]).toBeLessThanOrEqual(1000);
  });

  test('5xx until retries run out: EXCHANGE_HTTP with URL, status and the first 200 chars of the body', async () => {
    const page = `<html>${'x'.repeat(500)}</html>`;
    handler = (_req, res) => json(res, 502, page);
    const e = await failure(client({ maxRetries: 2 }).aggTrades('BTCUSDT', 1));
    expect(e.code).toBe('EXCHANGE_HTTP');
    expect(e.details.status).toBe(502);
    expect(e.details.url).toBe(`${base}/fapi/v1/aggTrades?symbol=BTCUSDT&fromId=1&limit=1000`);
    expect(e.details.body).toBe(page.slice(0, 200));
    expect(seen).toHaveLength(3);
  });

  test('a request without an answer times out and is retried', async () => {
    let n = 0;
    const held: http.ServerResponse[] = [];
    handler = (_req, res) => {
      if (++n === 1) held.push(res); // never answered
      else json(res, 200, [trade(1)]);
    };
    const metrics = counted();
    const rest = client({ timeoutMs: 150, metrics });
    expect((await rest.aggTrades('BTCUSDT', 1)).length).toBe(1);
    expect(metrics.outcomes).toEqual(['aggTrades:timeout', 'aggTrades:ok']);
    for (const r of held) r.destroy();
  });

  test('timeouts until retries run out: EXCHANGE_UNREACHABLE', async () => {
    const held: http.ServerResponse[] = [];
    handler = (_req, res) => held.push(res);
    const e = await failure(client({ timeoutMs: 80, maxRetries: 1 }).aggTrades('BTCUSDT', 1));
    expect(e.code).toBe('EXCHANGE_UNREACHABLE');
    expect(e.message).toMatch(/no answer within 80 ms/);
    expect(seen).toHaveLength(2);
    for (const r of held) r.destroy();
  });

  test('a refused connection: EXCHANGE_UNREACHABLE with the URL', async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const metrics = counted();
    const e = await failure(client({ baseUrl: `http://127.0.0.1:${port}`, maxRetries: 1, metrics, sleep: async (ms) => void (clock += ms) }).exchangeInfo());
    expect(e.code).toBe('EXCHANGE_UNREACHABLE');
    expect(e.details.url).toBe(`http://127.0.0.1:${port}/fapi/v1/exchangeInfo`);
    expect(metrics.outcomes).toEqual(['exchangeInfo:network_error', 'exchangeInfo:network_error']);
  });

  test('429 pauses every caller of the client until Retry-After, then retries', async () => {
    let n = 0;
    handler = (_req, res) => (++n === 1 ? json(res, 429, { code: -1003, msg: 'Too many requests' }, { 'retry-after': '7' }) : json(res, 200, [trade(1)]));
    const pending: Array<{ ms: number; release(): void }> = [];
    const metrics = counted();
    const rest = client({
      metrics,
      sleep: (ms) =>
        new Promise<void>((resolve) =>
          pending.push({
            ms,
            release: () => {
              clock += ms;
              resolve();
            },
          }),
        ),
    });
    const t0 = clock;
    const a = rest.aggTrades('BTCUSDT', 1);
    await until(() => pending.length === 1, 'the pause');
    expect(pending[0]!.ms).toBe(7000);
    // Callers arriving during the pause wait too: nothing reaches the exchange.
    const b = rest.aggTrades('ETHUSDT', 1);
    const c = rest.exchangeInfo().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toHaveLength(1);
    pending[0]!.release();
    expect((await a).length).toBe(1);
    expect((await b).length).toBe(1);
    await c;
    expect(seen).toHaveLength(4);
    for (const s of seen.slice(1)) expect(s.at).toBeGreaterThanOrEqual(t0 + 7000);
    expect(seen.slice(1).map((s) => s.query.get('symbol'))).toEqual(['BTCUSDT', 'ETHUSDT', null]); // FIFO
    expect(metrics.outcomes[0]).toBe('aggTrades:rate_limited');
    expect(logLines.some((l) => l.level === 'warn' && /429/.test(l.msg))).toBe(true);
  });

  test('418 sets bannedUntil, logs an error, waits out the ban; EXCHANGE_BANNED when retries run out', async () => {
    handler = (_req, res) => json(res, 418, { code: -1003, msg: 'Way too much request weight used; IP banned until 1.' }, { 'retry-after': '120' });
    const metrics = counted();
    const rest = client({ maxRetries: 1, metrics });
    const t0 = clock;
    const e = await failure(rest.aggTrades('BTCUSDT', 1));
    expect(e.code).toBe('EXCHANGE_BANNED');
    expect(seen[1]!.at).toBe(t0 + 120_000);
    expect(rest.bannedUntil).toBe(t0 + 240_000); // the retry was banned again
    expect(metrics.outcomes).toEqual(['aggTrades:banned', 'aggTrades:banned']);
    expect(logLines.some((l) => l.level === 'error' && /418/.test(l.msg))).toBe(true);
  });

  test('418 then the ban ends: the retry succeeds; the body\'s "banned until" wins when later', async () => {
    let n = 0;
    const until = clock + 300_000;
    handler = (_req, res) =>
      ++n === 1 ? json(res, 418, { code: -1003, msg: `Way too much request weight used; IP banned until ${until}.` }, { 'retry-after': '120' }) : json(res, 200, [trade(1)]);
    const rest = client();
    expect((await rest.aggTrades('BTCUSDT', 1)).length).toBe(1);
    expect(rest.bannedUntil).toBe(until);
    expect(seen[1]!.at).toBeGreaterThanOrEqual(until);
  });

  test('Retry-After forms', () => {
    expect(parseRetryAfter('3', 0)).toBe(3000);
    expect(parseRetryAfter(null, 0)).toBeUndefined();
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
  });

  test('close() fails waiting callers and aborts what is in flight', async () => {
    const held: http.ServerResponse[] = [];
    handler = (_req, res) => held.push(res);
    const rest = client({ sleep: undefined, now: undefined, weightPerMinute: 20 });
    const a = failure(rest.aggTrades('BTCUSDT', 1));
    const b = failure(rest.aggTrades('BTCUSDT', 1)); // waits for the next minute's budget
    await until(() => held.length === 1, 'the first request');
    rest.close();
    expect((await a).code).toBe('EXCHANGE_UNREACHABLE');
    expect((await b).message).toMatch(/closed/);
    for (const r of held) r.destroy();
  });
});

describe('weight budget', () => {
  test('requests beyond the per-minute budget wait for the next minute, in call order', async () => {
    handler = (_req, res, s) => json(res, 200, [trade(Number(s.query.get('fromId')))]);
    const rest = client({ weightPerMinute: 50 }); // two aggTrades (20 each) per minute
    const results = await Promise.all([1, 2, 3, 4, 5].map((id) => rest.aggTrades('BTCUSDT', id)));
    expect(results.map((r) => r[0]!.aggId)).toEqual([1, 2, 3, 4, 5]);
    expect(seen.map((s) => Number(s.query.get('fromId')))).toEqual([1, 2, 3, 4, 5]);
    // Two per minute, the second when the minute's pace allows 40 of 50 (24 s in), the next minute for the third.
    expect(seen.map((s) => s.at - T0)).toEqual([0, 24_000, 60_000, 84_000, 120_000]);
    expect(rest.weightUsedThisMinute).toBe(20);
  });

  test('the budget is spread over the minute: no burst in the first 0.3 s (2,400 a minute = two aggTrades a second)', async () => {
    handler = (_req, res, s) => json(res, 200, [trade(Number(s.query.get('fromId')))]);
    const rest = client({ weightPerMinute: 2400 });
    await Promise.all(Array.from({ length: 60 }, (_, i) => rest.aggTrades('BTCUSDT', i + 1)));
    const at = seen.map((s) => s.at - T0);
    expect(at.filter((t) => t < 300).length).toBeLessThanOrEqual(5);
    // 60 calls of weight 20 are 1,200: half the minute's budget, paced to about 28 s, all in minute 0.
    expect(at[59]).toBeGreaterThanOrEqual(25_000);
    expect(at[59]).toBeLessThan(60_000);
    // Evenly: no second holds more than the burst plus two calls.
    const perSecond = new Map<number, number>();
    for (const t of at) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(6);
  });

  test('a producer restarted in a minute another instance already spent follows the exchange\'s used weight', async () => {
    // The killed predecessor spent 2,000 of 2,400 this minute; the exchange counts every request on top.
    const counted = new Map<number, number>([[0, 2000]]);
    handler = (_req, res, s) => {
      const minute = Math.floor((s.at - T0) / 60_000);
      counted.set(minute, (counted.get(minute) ?? 0) + 20);
      json(res, 200, [], { 'x-mbx-used-weight-1m': String(counted.get(minute)) });
    };
    const rest = client({ weightPerMinute: 2400 });
    await Promise.all(Array.from({ length: 30 }, (_, i) => rest.aggTrades('BTCUSDT', i + 1)));
    const inMinute0 = seen.filter((s) => s.at < T0 + 60_000).length;
    // 400 weight were left: at most 20 calls in minute 0, the rest in minute 1; never over the exchange's limit.
    expect(inMinute0).toBeLessThanOrEqual(20);
    expect(inMinute0).toBeGreaterThanOrEqual(4);
    expect(seen.length).toBe(30);
    expect(Math.max(...counted.values())).toBeLessThanOrEqual(2400);
  });

  test('the exchange\'s X-MBX-USED-WEIGHT-1M raises the count (other users of the IP)', async () => {
    handler = (_req, res) => json(res, 200, [], { 'x-mbx-used-weight-1m': '1190' });
    const rest = client({ weightPerMinute: 1200 });
    await rest.aggTrades('BTCUSDT', 1);
    expect(rest.weightUsedThisMinute).toBe(1190);
    await rest.aggTrades('BTCUSDT', 2); // 1190 + 20 > 1200: next minute
    expect(seen[1]!.at).toBeGreaterThanOrEqual(T0 + 60_000);
  });

  test('the budget never exceeds the exchange\'s own limit', async () => {
    const rest = client({ weightPerMinute: 1_000_000, paths: { ...MARKETS.usdm.paths, exchangeWeightLimitPerMinute: 40 } });
    await Promise.all([1, 2, 3].map((id) => rest.aggTrades('BTCUSDT', id)));
    // 40 a minute: one call at once, the second at the pace (30 s), the third in the next minute.
    expect(seen.map((s) => s.at - T0)).toEqual([0, 30_000, 60_000]);
  });
});

describe('exchangeInfo', () => {
  test('USD-M: every symbol with contractType and the precisions as given', async () => {
    handler = (_req, res, s) => {
      expect(s.path).toBe('/fapi/v1/exchangeInfo');
      json(res, 200, {
        timezone: 'UTC',
        symbols: [
          { symbol: 'BTCUSDT', pair: 'BTCUSDT', contractType: 'PERPETUAL', status: 'TRADING', baseAsset: 'BTC', quoteAsset: 'USDT', pricePrecision: 2, quantityPrecision: 3, baseAssetPrecision: 8, quotePrecision: 8, filters: [{ filterType: 'PRICE_FILTER', tickSize: '0.10' }] },
          { symbol: 'BTCUSDT_250926', contractType: 'CURRENT_QUARTER', status: 'SETTLING', baseAsset: 'BTC', quoteAsset: 'USDT', pricePrecision: 1, quantityPrecision: 3 },
        ],
      });
    };
    const metrics = counted();
    const symbols = await client({ metrics }).exchangeInfo();
    expect(symbols).toEqual([
      { symbol: 'BTCUSDT', status: 'TRADING', contractType: 'PERPETUAL', baseAsset: 'BTC', quoteAsset: 'USDT', pricePrecision: 2, quantityPrecision: 3 },
      { symbol: 'BTCUSDT_250926', status: 'SETTLING', contractType: 'CURRENT_QUARTER', baseAsset: 'BTC', quoteAsset: 'USDT', pricePrecision: 1, quantityPrecision: 3 },
    ]);
    expect(metrics.weight).toBe(1);
  });

  test('spot: no contractType; precisions from tickSize / stepSize, else the asset precisions', async () => {
    handler = (_req, res, s) => {
      expect(s.path).toBe('/api/v3/exchangeInfo');
      json(res, 200, {
        symbols: [
          {
            symbol: 'BTCUSDT', status: 'TRADING', baseAsset: 'BTC', baseAssetPrecision: 8, quoteAsset: 'USDT', quotePrecision: 8, quoteAssetPrecision: 8,
            filters: [{ filterType: 'PRICE_FILTER', minPrice: '0.01000000', tickSize: '0.01000000' }, { filterType: 'LOT_SIZE', stepSize: '0.00001000' }],
          },
          { symbol: 'OLDBTC', status: 'BREAK', baseAsset: 'OLD', baseAssetPrecision: 6, quoteAsset: 'BTC', quotePrecision: 7, filters: [] },
        ],
      });
    };
    const symbols = await client({ paths: MARKETS.spot.paths }).exchangeInfo();
    expect(symbols).toEqual([
      { symbol: 'BTCUSDT', status: 'TRADING', contractType: undefined, baseAsset: 'BTC', quoteAsset: 'USDT', pricePrecision: 2, quantityPrecision: 5 },
      { symbol: 'OLDBTC', status: 'BREAK', contractType: undefined, baseAsset: 'OLD', quoteAsset: 'BTC', pricePrecision: 7, quantityPrecision: 6 },
    ]);
  });

  test('bad shapes are bad answers', async () => {
    handler = (_req, res) => json(res, 200, { symbols: [{ symbol: 'X', status: 'TRADING', baseAsset: 'X', quoteAsset: 1 }] });
    const e = await failure(client().exchangeInfo());
    expect(e.code).toBe('EXCHANGE_BAD_ANSWER');
    expect(e.message).toMatch(/symbols\[0\] \(X\)\.quoteAsset is not a string/);

    handler = (_req, res) => json(res, 200, { code: -1000, msg: 'An unknown error occurred' });
    const e2 = await failure(client().exchangeInfo());
    expect(e2.code).toBe('EXCHANGE_BAD_ANSWER');
    expect(e2.details).toMatchObject({ code: -1000 });
  });
});
