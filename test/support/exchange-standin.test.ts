/**
 * The exchange stand-in, proved with real `ws` clients and HTTP requests against real recorded frames.
 * Deterministic tests use speed 'manual' (advance / advanceTo); timing only appears as lower bounds.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AggTradeFrameParser, FrameResult, createAggTradeRecord } from '../../src/exchange/aggtrade-frame';
import { readAggTrades } from '../../src/exchange/frame-file';
import { FrameStats } from '../../src/exchange/frame-stats';
import { binanceDataDir } from './data-dir';
import {
  ExchangeStandin,
  GARBAGE_KINDS,
  SAMPLE_EXTRA_SYMBOLS,
  StandinClient,
  startStandinProcess,
  waitFor,
  type ExchangeStandinOptions,
} from './exchange-standin';

// Generous per-test time for loaded machines; every wait inside is on a condition, not a sleep.
jest.setTimeout(30_000);

const DATA = binanceDataDir();
const BTC23 = path.join(DATA, 'btcusdt-usdm-2023-04-04/aggtrade-frames.jsonl.gz');
const BTC24 = path.join(DATA, 'btcusdt-usdm-2024-07-18/aggtrade-frames.jsonl.gz');
const USDM5 = path.join(DATA, 'ws-recordings-2021/usdm_5symbols_aggTrade_20210405T1836.txt');
const XRP = path.join(DATA, 'xrpeth-spot-2019-10-11/aggtrade-frames.jsonl.gz');
const USDM_KLINES = path.join(DATA, 'ws-recordings-2021/usdm_DENT-KSM-XMR-YFI_aggTrade+kline1m_20210417T1637.txt');
const BTC_STREAM = 'btcusdt@aggTrade';
const DAY = 86_400_000;

const standins: ExchangeStandin[] = [];
const clients: StandinClient[] = [];

async function standin(options: ExchangeStandinOptions): Promise<ExchangeStandin> {
  const ex = await ExchangeStandin.start(options);
  standins.push(ex);
  return ex;
}

async function client(url: string, options: { autoPong?: boolean } = {}): Promise<StandinClient> {
  const c = await StandinClient.connect(url, options);
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(standins.splice(0).map((s) => s.close()));
});

/** Every aggTrade id per symbol of a file, read independently with the project's reader. */
async function sourceIds(file: string, rename: Record<string, string> = {}): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for await (const t of readAggTrades(file, new FrameStats())) {
    const s = rename[t.symbol] ?? t.symbol;
    if (!out.has(s)) out.set(s, []);
    out.get(s)!.push(t.aggId);
  }
  for (const [s, ids] of out) out.set(s, [...new Set(ids)].sort((a, b) => a - b));
  return out;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json(): unknown;
}

async function get(url: string): Promise<Answer> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

type RestTrade = { a: number; p: string; q: string; f: number; l: number; T: number; m: boolean; M?: boolean };

function dataOf(frame: string): Record<string, unknown> {
  const root = JSON.parse(frame) as Record<string, unknown>;
  return (root.data ?? root) as Record<string, unknown>;
}

describe('timeline', () => {
  test('expectedTrades equals the aggIds in the source files, several files and symbols on one timeline', async () => {
    const ex = await standin({ files: [BTC23, USDM5, { path: BTC24, renameSymbols: { BTCUSDT: 'BTC2USDT' } }], speed: 'manual', align: 'start' });
    const want = new Map([...(await sourceIds(BTC23)), ...(await sourceIds(USDM5)), ...(await sourceIds(BTC24, { BTCUSDT: 'BTC2USDT' }))]);
    const got = ex.expectedTrades();
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [s, ids] of want) expect(got.get(s)).toEqual(ids);
    expect(ex.timelineInfo.trades).toBe([...want.values()].reduce((n, ids) => n + ids.length, 0));
    // The full records carry the verbatim decimals of the input.
    // Frames of other kinds in a recording (kline_1m here) are skipped and counted.
    const klines = await standin({ files: [USDM_KLINES], speed: 'manual' });
    expect(klines.timelineInfo.files[0]).toMatchObject({ otherFrames: 99, malformed: 0, symbols: ['DENTUSDT', 'KSMUSDT', 'XMRUSDT', 'YFIUSDT'] });
    expect(klines.expectedTrades()).toEqual(await sourceIds(USDM_KLINES));
    const first = ex.expectedRecords().get('BTCUSDT')![0]!;
    expect(first).toMatchObject({ symbol: 'BTCUSDT', aggId: 3535186032, price: '28145.10', quantity: '0.002', isBuyerMaker: true, file: 0 });
  });

  test('align start shifts by whole days; frames are re-serialised with their own key order and decimals, only E and T moved', async () => {
    const ex = await standin({ files: [BTC23, USDM5, { path: BTC24, renameSymbols: { BTCUSDT: 'BTC2USDT' } }], speed: 'manual', align: 'start' });
    const files = ex.timelineInfo.files;
    expect(files[0]!.shiftMs).toBe(0);
    for (const f of files) expect(Math.abs(f.shiftMs % DAY)).toBe(0);
    expect(files[1]!.shiftMs).toBeGreaterThan(0); // 2021 -> 2023
    expect(files[2]!.shiftMs).toBeLessThan(0); // 2024 -> 2023
    // Same time of day, so the two BTC files start within seconds of each other.
    const firstOf = (sym: string): number => ex.expectedRecords().get(sym)![0]!.eventTime;
    expect(Math.abs(firstOf('BTC2USDT') - firstOf('BTCUSDT'))).toBeLessThan(5 * 60_000);

    const c = await client(`${ex.wsBaseUrl}/market/stream?streams=sandusdt@aggTrade/btc2usdt@aggTrade`);
    ex.advanceAll();
    const sand = ex.expectedTrades().get('SANDUSDT')!.length + ex.expectedTrades().get('BTC2USDT')!.length;
    await waitFor(() => c.frames.length === sand, 'all SANDUSDT and BTC2USDT frames');

    // Original lines, E and T moved by the file's shift, must equal what was sent, byte for byte.
    const original = new Map<number, string>();
    for (const line of fs.readFileSync(USDM5, 'utf8').split('\n')) {
      const at = line.indexOf('{"stream":"sandusdt@aggTrade"');
      if (at < 0) continue;
      const root = JSON.parse(line.slice(at)) as { data: Record<string, number | string | boolean> };
      root.data.E = (root.data.E as number) + files[1]!.shiftMs;
      root.data.T = (root.data.T as number) + files[1]!.shiftMs;
      original.set(root.data.a as number, JSON.stringify(root));
    }
    const sandFrames = c.frames.filter((f) => f.startsWith('{"stream":"sandusdt@aggTrade"'));
    expect(sandFrames.length).toBe(original.size);
    for (const f of sandFrames) expect(f).toBe(original.get(dataOf(f).a as number));
    // "a" before "s" in the 2021 recording: kept.
    expect(sandFrames[0]!.indexOf('"a"')).toBeLessThan(sandFrames[0]!.indexOf('"s"'));
    // A renamed symbol: stream name and "s" both renamed.
    const btc2 = c.frames.find((f) => f.startsWith('{"stream":"btc2usdt@aggTrade"'))!;
    expect(dataOf(btc2).s).toBe('BTC2USDT');
    // Frames arrive in event-time order.
    const times = c.frames.map((f) => dataOf(f).E as number);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  test('shiftTo moves the whole timeline to start at most one shift unit before the given time; align none keeps the years apart', async () => {
    const to = Date.UTC(2030, 0, 15, 12, 0, 0);
    const ex = await standin({ files: [BTC23], speed: 'manual', shiftTo: to, shiftUnitMs: 60_000 });
    const start = ex.timelineInfo.start;
    expect(start).toBeLessThanOrEqual(to);
    expect(start).toBeGreaterThan(to - 60_000);
    expect(ex.timelineInfo.files[0]!.shiftMs % 60_000).toBe(0);
    expect(ex.serverTime()).toBe(start - 1); // nothing released yet

    const none = await standin({ files: [BTC23, USDM5], speed: 'manual', align: 'none' });
    expect(none.timelineInfo.files.map((f) => f.shiftMs)).toEqual([0, 0]);
    expect(none.timelineInfo.start).toBe(1617647797640); // the 2021 recording comes first
  });

  test('the same symbol in two overlapping files is refused, naming renameSymbols', async () => {
    await expect(ExchangeStandin.start({ files: [BTC23, BTC24], align: 'start' })).rejects.toThrow(/renameSymbols/);
    await expect(ExchangeStandin.start({ files: [path.join(DATA, 'does-not-exist.jsonl')] })).rejects.toThrow(/cannot read frames file/);
  });
});

describe('WebSocket', () => {
  test('never replays: a client connecting mid-timeline gets only later frames; REST has the history', async () => {
    const ex = await standin({ files: [BTC23], speed: 'manual' });
    const ids = ex.expectedTrades().get('BTCUSDT')!;
    expect(ex.advance(100)).toBe(100);
    const c = await client(`${ex.wsBaseUrl}/market/stream?streams=${BTC_STREAM}`);
    expect(ex.connections()[0]!.framesSent).toBe(0);
    ex.advance(10);
    await waitFor(() => c.frames.length === 10, '10 frames');
    expect(c.frames.map((f) => dataOf(f).a)).toEqual(ids.slice(100, 110));
    const rest = (await get(`${ex.restBaseUrl}/fapi/v1/aggTrades?symbol=BTCUSDT&fromId=0&limit=1000`)).json() as RestTrade[];
    expect(rest.map((t) => t.a)).toEqual(ids.slice(0, 110));
  });

  test('combined and bare paths carry the same frames; unknown paths are 404, unknown streams get nothing', async () => {
    const ex = await standin({ files: [BTC23, USDM5], speed: 'manual', align: 'start', shiftUnitMs: 60_000 });
    const combined = await client(`${ex.wsBaseUrl}/market/stream?streams=${BTC_STREAM}/nosuchcoin@aggTrade`);
    const bare = await client(`${ex.wsBaseUrl}/market/ws/${BTC_STREAM}`);
    const unknown = await client(`${ex.wsBaseUrl}/market/stream?streams=BTCUSDT@aggTrade/btcusdt@trade`);
    await expect(StandinClient.connect(`${ex.wsBaseUrl}/stream?streams=${BTC_STREAM}`)).rejects.toThrow('unexpected status 404');
    await expect(StandinClient.connect(`${ex.wsBaseUrl}/nope`)).rejects.toThrow('unexpected status 404');
    const n = ex.advance(300);
    const btc = ex.releasedTrades().get('BTCUSDT')!.length;
    expect(n).toBe(300);
    await waitFor(() => combined.frames.length === btc && bare.frames.length === btc, `${btc} frames on both`);
    for (let i = 0; i < btc; i++) expect(combined.frames[i]).toBe(`{"stream":"${BTC_STREAM}","data":${bare.frames[i]}}`);
    expect(JSON.parse(bare.frames[0]!)).toMatchObject({ e: 'aggTrade', s: 'BTCUSDT' });
    const rec = ex.connections().find((r) => r.url.includes('btcusdt@trade'))!;
    expect(rec).toMatchObject({ open: true, framesSent: 0, streams: ['BTCUSDT@aggTrade', 'btcusdt@trade'] });
    expect(unknown.frames).toEqual([]);
    expect(ex.stats.upgradesRejected).toBe(2);
  });

  test('spot paths and REST: /stream and /ws, /api/v3 with "M", spot weights', async () => {
    const ex = await standin({ files: [XRP], speed: 'manual', market: 'spot', rest: { now: () => 1_800_000_000_000 } });
    const combined = await client(`${ex.wsBaseUrl}/stream?streams=xrpeth@aggTrade`);
    const bare = await client(`${ex.wsBaseUrl}/ws/xrpeth@aggTrade`);
    await expect(StandinClient.connect(`${ex.wsBaseUrl}/market/stream?streams=xrpeth@aggTrade`)).rejects.toThrow('unexpected status 404');
    ex.advance(20);
    await waitFor(() => combined.frames.length === 20 && bare.frames.length === 20, '20 spot frames');
    expect(combined.frames[0]).toBe(`{"stream":"xrpeth@aggTrade","data":${bare.frames[0]}}`);
    const r = await get(`${ex.restBaseUrl}/api/v3/aggTrades?symbol=XRPETH&fromId=0&limit=3`);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-mbx-used-weight-1m')).toBe('4');
    expect(r.json()).toEqual([{ a: 13519807, p: '0.00141342', q: '23.00000000', f: 15373518, l: 15373518, T: 1570752011620, m: true, M: true }, expect.anything(), expect.anything()]);
    const info = await get(`${ex.restBaseUrl}/api/v3/exchangeInfo`);
    expect(info.headers.get('x-mbx-used-weight-1m')).toBe('24');
    const body = info.json() as { symbols: Array<Record<string, unknown>> };
    expect(body.symbols[0]).toMatchObject({ symbol: 'XRPETH', status: 'TRADING', baseAsset: 'XRP', quoteAsset: 'ETH' });
    expect(body.symbols[0]!.contractType).toBeUndefined();
    expect((body.symbols[0]!.filters as Array<Record<string, string>>)[0]).toMatchObject({ filterType: 'PRICE_FILTER', tickSize: '0.00000001' });
    expect((await get(`${ex.restBaseUrl}/fapi/v1/exchangeInfo`)).status).toBe(404);
  });

  test('live SUBSCRIBE, LIST_SUBSCRIPTIONS, UNSUBSCRIBE, SET_PROPERTY combined, and error replies', async () => {
    const ex = await standin({ files: [BTC23], speed: 'manual' });
    const c = await client(`${ex.wsBaseUrl}/market/ws`);
    expect(await c.request({ method: 'SUBSCRIBE', params: [BTC_STREAM], id: 1 })).toEqual({ result: null, id: 1 });
    ex.advance(5);
    await waitFor(() => c.frames.length === 6, '5 frames after the reply');
    expect(JSON.parse(c.frames[1]!)).toMatchObject({ e: 'aggTrade' });
    expect(await c.request({ method: 'LIST_SUBSCRIPTIONS', id: 2 })).toEqual({ result: [BTC_STREAM], id: 2 });
    expect(await c.request({ method: 'SET_PROPERTY', params: ['combined', true], id: 3 })).toEqual({ result: null, id: 3 });
    expect(await c.request({ method: 'GET_PROPERTY', params: ['combined'], id: 4 })).toEqual({ result: true, id: 4 });
    ex.advance(1);
    await waitFor(() => c.frames.some((f) => f.startsWith(`{"stream":"${BTC_STREAM}"`)), 'a combined frame');
    expect(await c.request({ method: 'UNSUBSCRIBE', params: [BTC_STREAM], id: 'u' })).toEqual({ result: null, id: 'u' });
    ex.advance(5);
    expect(ex.connections()[0]!.framesSent).toBe(6);
    expect((await c.request({ method: 'FOO', id: 5 })).error).toMatchObject({ code: 2 });
    expect((await c.request({ method: 'SUBSCRIBE', params: 'btcusdt@aggTrade', id: 6 })).error).toMatchObject({ code: 2 });
    c.ws.send('not json');
    await waitFor(() => c.frames.some((f) => f.includes('"code":3')), 'invalid JSON error');
  });

  test('stream limits: too many streams in the URL is refused, a SUBSCRIBE over 1024 gets an error reply', async () => {
    const small = await standin({ files: [BTC23], speed: 'manual', maxStreamsPerConnection: 5 });
    const six = Array.from({ length: 6 }, (_, i) => `s${i}usdt@aggTrade`).join('/');
    await expect(StandinClient.connect(`${small.wsBaseUrl}/market/stream?streams=${six}`)).rejects.toThrow('unexpected status 400');
    const ex = await standin({ files: [BTC23], speed: 'manual' });
    const c = await client(`${ex.wsBaseUrl}/market/stream?streams=${BTC_STREAM}`);
    const many = Array.from({ length: 1024 }, (_, i) => `c${i}usdt@aggTrade`);
    const reply = await c.request({ method: 'SUBSCRIBE', params: many, id: 1 });
    expect(reply.error).toMatchObject({ code: 2, msg: expect.stringContaining('too many streams') });
    expect((await c.request({ method: 'SUBSCRIBE', params: many.slice(0, 1023), id: 2 })).result).toBeNull();
    expect(ex.connections()[0]!.streams).toHaveLength(1024);
    expect(ex.stats.tooManyStreamsRejected).toBe(1);
  });

  test('more than 10 incoming messages in a second closes the connection with 1008', async () => {
    const ex = await standin({ files: [BTC23], speed: 'manual' });
    const calm = await client(`${ex.wsBaseUrl}/market/ws`);
    const chatty = await client(`${ex.wsBaseUrl}/market/ws`);
    for (let i = 0; i < 10; i++) calm.ws.send(JSON.stringify({ method: 'LIST_SUBSCRIPTIONS', id: i }));
    for (let i = 0; i < 11; i++) chatty.ws.send(JSON.stringify({ method: 'LIST_SUBSCRIPTIONS', id: i }));
    expect(await chatty.closed).toEqual({ code: 1008, reason: 'Too many messages' });
    await waitFor(() => calm.frames.length === 10, '10 replies');
    expect(calm.closeInfo).toBeUndefined();
    expect(ex.stats.tooManyMessagesCloses).toBe(1);
    expect(ex.connections().map((r) => r.closeReason)).toEqual([undefined, 'too-many-messages']);
  });

  test('the server pings; pongs are counted; a connection that does not answer is terminated', async () => {
    const ex = await standin({ files: [BTC23], speed: 'manual', pingIntervalMs: 30, pongTimeoutMs: 600 });
    const good = await client(`${ex.wsBaseUrl}/market/ws/${BTC_STREAM}`);
    const deaf = await client(`${ex.wsBaseUrl}/market/ws/${BTC_STREAM}`, { autoPong: false });
    expect((await deaf.closed).code).toBe(1006);
    const [g, d0] = ex.connections();
    await waitFor(() => !ex.connection(d0!.id)!.open, 'the server to see the close');
    const d = ex.connection(d0!.id);
    expect(d).toMatchObject({ open: false, closeReason: 'pong-timeout', pongsReceived: 0 });
    expect(d!.pingsSent).toBeGreaterThanOrEqual(1);
    await waitFor(() => ex.connection(g!.id)!.pongsReceived >= 3, '3 pongs');
    expect(good.serverPings).toBeGreaterThanOrEqual(3);
    expect(ex.connection(g!.id)!.open).toBe(true);
    expect(ex.stats.pongTimeouts).toBe(1);
  });

  test('connections older than maxConnectionAgeMs are closed by the server', async () => {
    const ex = await standin({ files: [BTC23], speed: 'manual', maxConnectionAgeMs: 100 });
    const c = await client(`${ex.wsBaseUrl}/market/ws/${BTC_STREAM}`);
    expect((await c.closed).code).toBe(1001);
    await waitFor(() => !ex.connections()[0]!.open, 'the server to see the close');
    expect(ex.connections()[0]).toMatchObject({ open: false, closeReason: 'max-age' });
  });

  test('cutAll abrupt (no close frame) and clean (1001); scripted cuts at timeline offsets', async () => {
    const ex = await standin({ files: [BTC23], speed: 'manual', trouble: { cutConnections: { at: [{ offsetMs: 60_000, mode: 'clean' }] } } });
    const a = await client(`${ex.wsBaseUrl}/market/ws/${BTC_STREAM}`);
    const b = await client(`${ex.wsBaseUrl}/market/stream?streams=${BTC_STREAM}`);
    expect(ex.cutAll('abrupt')).toBe(2);
    expect((await a.closed).code).toBe(1006);
    expect((await b.closed).code).toBe(1006);
    const c = await client(`${ex.wsBaseUrl}/market/ws/${BTC_STREAM}`);
    expect(ex.cutAll('clean')).toBe(1);
    expect(await c.closed).toEqual({ code: 1001, reason: 'Going away' });
    expect(ex.connections().map((r) => r.closeReason)).toEqual(['cut-abrupt', 'cut-abrupt', 'cut-clean']);

    const d = await client(`${ex.wsBaseUrl}/market/ws/${BTC_STREAM}`);
    const start = ex.timelineInfo.start;
    ex.advanceTo(start + 59_999);
    expect(ex.connections()[3]!.closeReason).toBeUndefined();
    ex.advanceTo(start + 60_000);
    expect((await d.closed).code).toBe(1001);
    expect(ex.stats.connectionsCut).toBe(4);
  });

  test('everyConnectionAfterMs: every connection is cut on its own schedule, a few hundred ms after it opened', async () => {
    const ex = await standin({ files: [BTC23], speed: 'manual', seed: 5, trouble: { cutConnections: { everyConnectionAfterMs: { minMs: 150, maxMs: 400 } } } });
    const a = await client(`${ex.wsBaseUrl}/market/stream?streams=${BTC_STREAM}`);
    const b = await client(`${ex.wsBaseUrl}/market/stream?streams=${BTC_STREAM}`);
    const [ca, cb] = [await a.closed, await b.closed];
    expect([ca.code, cb.code]).toEqual([1006, 1006]);
    await waitFor(() => ex.connections().every((r) => !r.open), 'the server to see both closes');
    const [ra, rb] = ex.connections();
    for (const r of [ra!, rb!]) {
      expect(r.closeReason).toBe('cut-abrupt');
      expect(r.closedAt! - r.openedAt).toBeGreaterThanOrEqual(140);
      expect(r.closedAt! - r.openedAt).toBeLessThan(2000);
    }
    // Two connections of the same stream are not cut by one event.
    expect(ra!.closedAt).not.toBe(rb!.closedAt);
    expect(ex.stats.connectionsCut).toBe(2);
    // A connection closed by the client first is not cut afterwards.
    const c = await client(`${ex.wsBaseUrl}/market/stream?streams=${BTC_STREAM}`);
    await c.close();
    await waitFor(() => !ex.connections()[2]!.open, 'the server to see the close');
    expect(ex.connections()[2]!.closeReason).toBe('client');
  });

  test('random cuts are seeded: the same seed cuts at the same places', async () => {
    const run = async (seed: number): Promise<number[]> => {
      const ex = await standin({ files: [BTC23], speed: 'manual', seed, trouble: { cutConnections: { randomPerMinute: 1 } } });
      const cutAt: number[] = [];
      let c = await client(`${ex.wsBaseUrl}/market/ws/${BTC_STREAM}`);
      while (ex.advance(250) > 0) {
        if (ex.connections().at(-1)!.closeReason !== undefined) {
          await c.closed;
          cutAt.push(ex.stats.tradesReleased);
          c = await client(`${ex.wsBaseUrl}/market/ws/${BTC_STREAM}`);
        }
      }
      return cutAt;
    };
    const first = await run(7);
    expect(first.length).toBeGreaterThan(0);
    expect(await run(7)).toEqual(first);
  });

  test('stall holds one connection back without closing it, then delivers in order', async () => {
    const ex = await standin({ files: [BTC23], speed: 'manual' });
    const slow = await client(`${ex.wsBaseUrl}/market/ws/${BTC_STREAM}`);
    const fast = await client(`${ex.wsBaseUrl}/market/ws/${BTC_STREAM}`);
    const id = ex.connections()[0]!.id;
    ex.stall(id, 60_000);
    ex.advance(20);
    await waitFor(() => fast.frames.length === 20, 'fast client frames');
    expect(ex.connections()[0]).toMatchObject({ open: true, queued: 20 });
    expect(slow.frames).toEqual([]);
    ex.stall(id, 0); // ends the stall
    await waitFor(() => slow.frames.length === 20, 'stalled frames delivered');
    expect(slow.frames).toEqual(fast.frames);
  });
});

describe('scripted frame trouble', () => {
  test('duplicates are pushed twice, withheld frames (fraction, ids, blackout) never, and REST has them all', async () => {
    const base = await standin({ files: [BTC23], speed: 'manual' });
    const ids = base.expectedTrades().get('BTCUSDT')!;
    const ex = await standin({
      files: [BTC23],
      speed: 'manual',
      seed: 3,
      trouble: {
        duplicateFrames: { fraction: 0.02, aggIds: [ids[5]!] },
        withholdFrames: { fraction: 0.01, aggIds: [ids[6]!], blackouts: [{ fromOffsetMs: 120_000, toOffsetMs: 130_000 }] },
      },
    });
    const withheld = new Set(ex.withheldTrades().get('BTCUSDT'));
    const duplicated = new Set(ex.duplicatedTrades().get('BTCUSDT'));
    expect(withheld.has(ids[6]!)).toBe(true);
    expect(duplicated.has(ids[5]!)).toBe(true);
    const start = ex.timelineInfo.start;
    const blackout = ex.expectedRecords().get('BTCUSDT')!.filter((t) => t.eventTime >= start + 120_000 && t.eventTime < start + 130_000);
    expect(blackout.length).toBeGreaterThan(10);
    for (const t of blackout) expect(withheld.has(t.aggId)).toBe(true);
    expect(duplicated.size).toBeGreaterThan(100);

    const c = await client(`${ex.wsBaseUrl}/market/ws/${BTC_STREAM}`);
    ex.advanceAll();
    await ex.finished;
    const want: number[] = [];
    for (const t of ex.expectedRecords().get('BTCUSDT')!) {
      if (withheld.has(t.aggId)) continue;
      want.push(t.aggId);
      if (duplicated.has(t.aggId)) want.push(t.aggId);
    }
    await waitFor(() => c.frames.length === want.length, `${want.length} frames`);
    expect(c.frames.map((f) => dataOf(f).a)).toEqual(want);
    expect(ex.stats).toMatchObject({ framesWithheld: withheld.size, duplicatesSent: duplicated.size, tradesReleased: ids.length });

    const all: number[] = [];
    for (let from = 0; ;) {
      const page = (await get(`${ex.restBaseUrl}/fapi/v1/aggTrades?symbol=BTCUSDT&fromId=${from}&limit=1000`)).json() as RestTrade[];
      if (page.length === 0) break;
      all.push(...page.map((t) => t.a));
      from = page[page.length - 1]!.a + 1;
    }
    expect(all).toEqual(ids);
  });

  test('garbage lines of every kind arrive between the real frames; only the microsecond copy parses as an aggTrade', async () => {
    const ex = await standin({ files: [BTC23], speed: 'max', seed: 5, trouble: { garbageLines: { oversizeBytes: 64 * 1024 } } });
    const combined = await client(`${ex.wsBaseUrl}/market/stream?streams=${BTC_STREAM}`);
    const bare = await client(`${ex.wsBaseUrl}/market/ws/${BTC_STREAM}`);
    ex.play();
    await ex.finished;
    const trades = ex.timelineInfo.trades;
    const n = trades + GARBAGE_KINDS.length;
    await waitFor(() => combined.frames.length === n && bare.frames.length === n, `${n} frames on both`);
    for (const c of [combined, bare]) {
      const parser = new AggTradeFrameParser();
      const out = createAggTradeRecord();
      const results = c.frames.map((f) => parser.parse(f, out));
      // The microsecond copy parses: only the producer's time rules reject it.
      expect(results.filter((r) => r === FrameResult.OK)).toHaveLength(trades + 1);
      expect(c.frames.filter((f) => /"T":\d{16}/.test(f))).toHaveLength(1);
      expect(results.filter((r) => r === FrameResult.MALFORMED)).toHaveLength(4); // not-json, missing-field, number-price, negative-quantity
      expect(results.filter((r) => r === FrameResult.NOT_AGGTRADE)).toHaveLength(3); // kline, oversized payload, reply
      expect(c.frames.some((f) => f.includes('"e":"kline"'))).toBe(true);
      expect(c.frames.some((f) => f === '{"result":null,"id":4242}')).toBe(true);
      expect(Math.max(...c.frames.map((f) => f.length))).toBeGreaterThanOrEqual(64 * 1024);
    }
    expect(ex.stats.garbageSent).toBe(2 * GARBAGE_KINDS.length);
    // On demand too.
    expect(ex.injectGarbage('number-price', ex.connections()[1]!.id)).toBe(1);
    await waitFor(() => bare.frames.length === n + 1, 'one more garbage frame');
    expect(dataOf(bare.frames[n]!).p).toEqual(expect.any(Number));
  });

  test('a symbol listed mid-stream is in exchangeInfo and REST only from its listing time, and its trades start then', async () => {
    const offset = 60_000;
    const ex = await standin({
      files: [BTC23, USDM5],
      speed: 'manual',
      align: 'start',
      shiftUnitMs: 60_000,
      symbols: [...SAMPLE_EXTRA_SYMBOLS.usdm],
      trouble: { listMidStream: [{ symbol: 'NEOUSDT', offsetMs: offset }] },
    });
    const listAt = ex.timelineInfo.start + offset;
    const neo = ex.expectedRecords().get('NEOUSDT')!;
    expect(neo.length).toBeGreaterThan(10);
    expect((await sourceIds(USDM5)).get('NEOUSDT')!.length).toBeGreaterThan(neo.length);
    for (const t of neo) expect(t.tradeTime).toBeGreaterThanOrEqual(listAt);
    const symbols = async (): Promise<string[]> => ((await get(`${ex.restBaseUrl}/fapi/v1/exchangeInfo`)).json() as { symbols: Array<{ symbol: string }> }).symbols.map((s) => s.symbol);

    ex.advanceTo(listAt - 1);
    expect(await symbols()).not.toContain('NEOUSDT');
    expect(await symbols()).toEqual(expect.arrayContaining(['BTCUSDT', 'SANDUSDT', 'BTCUSDT_260626', 'SRMUSDT']));
    const before = await get(`${ex.restBaseUrl}/fapi/v1/aggTrades?symbol=NEOUSDT`);
    expect(before.status).toBe(400);
    expect(before.json()).toEqual({ code: -1121, msg: 'Invalid symbol.' });
    ex.advanceTo(listAt);
    expect(await symbols()).toContain('NEOUSDT');
    expect((await get(`${ex.restBaseUrl}/fapi/v1/aggTrades?symbol=NEOUSDT`)).status).toBe(200);
  });
});

describe('REST', () => {
  const NOW = 1_800_000_000_000 + 10_000; // 10 s into a clock minute

  test('exchangeInfo has the exchange shape, the timeline symbols with derived precisions and the extra ones', async () => {
    const ex = await standin({ files: [BTC23], speed: 'manual', symbols: [...SAMPLE_EXTRA_SYMBOLS.usdm], rest: { now: () => NOW } });
    ex.advance(10);
    const r = await get(`${ex.restBaseUrl}/fapi/v1/exchangeInfo`);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-mbx-used-weight-1m')).toBe('1');
    const body = r.json() as Record<string, unknown> & { symbols: Array<Record<string, unknown>> };
    expect(body).toMatchObject({ timezone: 'UTC', serverTime: ex.serverTime(), rateLimits: expect.arrayContaining([{ rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 2400 }]) });
    expect(body.symbols.map((s) => [s.symbol, s.contractType, s.status])).toEqual([
      ['BTCUSDT', 'PERPETUAL', 'TRADING'],
      ['BTCUSDT_260626', 'CURRENT_QUARTER', 'TRADING'],
      ['SRMUSDT', 'PERPETUAL', 'SETTLING'],
    ]);
    expect(body.symbols[0]).toMatchObject({ pair: 'BTCUSDT', baseAsset: 'BTC', quoteAsset: 'USDT', marginAsset: 'USDT', pricePrecision: 2, quantityPrecision: 3 });
    expect(body.symbols[0]!.filters).toEqual(expect.arrayContaining([expect.objectContaining({ filterType: 'PRICE_FILTER', tickSize: '0.01' }), expect.objectContaining({ filterType: 'LOT_SIZE', stepSize: '0.001' })]));
    expect((await get(`${ex.restBaseUrl}/fapi/v1/time`)).json()).toEqual({ serverTime: ex.serverTime() });
    expect((await get(`${ex.restBaseUrl}/fapi/v1/aggTrades?symbol=SRMUSDT`)).json()).toEqual([]);
  });

  test('aggTrades: fromId paging, limits, most recent, time windows, only released trades, errors, weight header', async () => {
    const ex = await standin({ files: [BTC23], speed: 'manual', rest: { now: () => NOW } });
    const url = (q: string): string => `${ex.restBaseUrl}/fapi/v1/aggTrades?symbol=BTCUSDT${q}`;
    const ids = ex.expectedTrades().get('BTCUSDT')!;
    const recs = ex.expectedRecords().get('BTCUSDT')!;
    ex.advance(2500);
    const released = ex.releasedTrades().get('BTCUSDT')!;
    expect(released).toEqual(ids.slice(0, 2500));

    const pages: number[][] = [];
    for (let from = ids[0]!; ;) {
      const page = (await get(url(`&fromId=${from}&limit=1000`))).json() as RestTrade[];
      if (page.length === 0) break;
      pages.push(page.map((t) => t.a));
      from = page[page.length - 1]!.a + 1;
    }
    expect(pages.map((p) => p.length)).toEqual([1000, 1000, 500]);
    expect(pages.flat()).toEqual(released);

    const first = (await get(url(`&fromId=${ids[0]}&limit=1`))).json() as RestTrade[];
    expect(first).toEqual([{ a: recs[0]!.aggId, p: recs[0]!.price, q: recs[0]!.quantity, f: recs[0]!.firstTradeId, l: recs[0]!.lastTradeId, T: recs[0]!.tradeTime, m: recs[0]!.isBuyerMaker }]);
    expect(((await get(url(`&fromId=${ids[0]}`))).json() as RestTrade[]).length).toBe(500);
    expect(((await get(url(`&fromId=${ids[0]}&limit=5000`))).json() as RestTrade[]).length).toBe(1000);
    expect(((await get(url(''))).json() as RestTrade[]).map((t) => t.a)).toEqual(released.slice(-500));
    expect(((await get(url(`&fromId=${ids[2500]}`))).json() as RestTrade[])).toEqual([]); // not released yet

    const t0 = recs[1000]!.tradeTime;
    const fromTime = (await get(url(`&startTime=${t0}&limit=10`))).json() as RestTrade[];
    expect(fromTime[0]!.T).toBe(t0);
    expect(fromTime[0]!.a).toBe(recs.find((t) => t.tradeTime >= t0)!.aggId);
    const window = (await get(url(`&startTime=${t0}&endTime=${t0 + 3_599_999}&limit=1000`))).json() as RestTrade[];
    expect(window.length).toBeGreaterThan(0);
    expect(window.every((t) => t.T >= t0)).toBe(true);
    const wide = await get(url(`&startTime=${t0}&endTime=${t0 + 3_600_000}`));
    expect(wide.status).toBe(400);
    expect(wide.json()).toEqual({ code: -1127, msg: 'More than 1 hours between startTime and endTime.' });

    expect((await get(`${ex.restBaseUrl}/fapi/v1/aggTrades?symbol=NOPEUSDT`)).json()).toEqual({ code: -1121, msg: 'Invalid symbol.' });
    expect(((await get(`${ex.restBaseUrl}/fapi/v1/aggTrades`)).json() as { code: number }).code).toBe(-1102);
    expect(((await get(url('&limit=0'))).json() as { code: number }).code).toBe(-1100);
    expect(((await get(url('&fromId=abc'))).json() as { code: number }).code).toBe(-1100);

    const log = ex.requests();
    const aggLog = log.filter((r) => r.endpoint === 'aggTrades');
    expect(aggLog.every((r) => r.weight === 20)).toBe(true);
    expect(log.map((r) => r.usedWeight)).toEqual(log.map((_, i) => 20 * (i + 1)));
    expect(log[0]).toMatchObject({ method: 'GET', path: '/fapi/v1/aggTrades', query: { symbol: 'BTCUSDT', fromId: String(ids[0]), limit: '1000' }, status: 200 });
  });

  test('REST history is limited to historyMs before the server time when configured', async () => {
    const ex = await standin({ files: [BTC23], speed: 'manual', rest: { historyMs: 60_000 } });
    ex.advanceTo(ex.timelineInfo.start + 180_000);
    const page = (await get(`${ex.restBaseUrl}/fapi/v1/aggTrades?symbol=BTCUSDT&fromId=0&limit=10`)).json() as RestTrade[];
    expect(page[0]!.T).toBeGreaterThanOrEqual(ex.serverTime() - 60_000);
    expect(page[0]!.a).toBeGreaterThan(ex.expectedTrades().get('BTCUSDT')![0]!);
  });

  test('over the weight limit: 429 with Retry-After; continuing escalates to a 418 ban; without escalation only 429', async () => {
    let now = NOW;
    const ex = await standin({ files: [BTC23], speed: 'manual', rest: { weightLimitPerMinute: 40, now: () => now, ban: { after: 2, banMs: 300_000 } } });
    ex.advance(10);
    const agg = (): Promise<Answer> => get(`${ex.restBaseUrl}/fapi/v1/aggTrades?symbol=BTCUSDT`);
    expect((await agg()).status).toBe(200);
    const second = await agg();
    expect([second.status, second.headers.get('x-mbx-used-weight-1m')]).toEqual([200, '40']);
    const limited = await agg();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('50');
    expect(limited.json()).toMatchObject({ code: -1003, msg: expect.stringContaining('Too many requests') });
    expect((await agg()).status).toBe(429); // first violation
    const banned = await agg();
    expect(banned.status).toBe(418);
    expect(banned.headers.get('retry-after')).toBe('300');
    expect((banned.json() as { msg: string }).msg).toContain(`banned until ${NOW + 300_000}`);
    now += 60_000; // a new minute does not lift a ban
    expect((await agg()).status).toBe(418);
    now = NOW + 300_000;
    expect((await agg()).status).toBe(200);
    expect(ex.stats).toMatchObject({ rest429: 2, rest418: 2 });

    now = NOW;
    const lenient = await standin({ files: [BTC23], speed: 'manual', rest: { weightLimitPerMinute: 20, now: () => now, ban: false } });
    const agg2 = (): Promise<Answer> => get(`${lenient.restBaseUrl}/fapi/v1/aggTrades?symbol=BTCUSDT`);
    expect((await agg2()).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await agg2()).status).toBe(429);
    now = NOW + 50_000; // the next minute
    expect((await agg2()).status).toBe(200);
  });

  test('scripted REST failures: 429, 500, an HTML page, a JSON error object; then normal answers', async () => {
    const ex = await standin({
      files: [BTC23],
      speed: 'manual',
      rest: { now: () => NOW },
      trouble: { restFailures: { first: 4, kinds: ['rate-limit', 'server-error', 'html', 'json-error'], retryAfterSeconds: 2 } },
    });
    const info = (): Promise<Answer> => get(`${ex.restBaseUrl}/fapi/v1/exchangeInfo`);
    const a = await info();
    expect([a.status, a.headers.get('retry-after'), (a.json() as { code: number }).code]).toEqual([429, '2', -1003]);
    const b = await info();
    expect([b.status, b.text]).toEqual([500, '{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}']);
    const c = await info();
    expect([c.status, c.headers.get('content-type'), c.text.startsWith('<html>')]).toEqual([200, 'text/html', true]);
    const d = await info();
    expect([d.status, d.json()]).toEqual([200, { code: -1001, msg: 'Internal error; unable to process your request. Please try again.' }]);
    expect((await info()).status).toBe(200);
    expect(((await info()).json() as { symbols: unknown[] }).symbols).toHaveLength(1);

    ex.failNextRequests(1, { status: 503, body: 'Service Unavailable', contentType: 'text/plain' }, 'aggTrades');
    expect((await info()).status).toBe(200);
    expect((await get(`${ex.restBaseUrl}/fapi/v1/aggTrades?symbol=BTCUSDT`)).status).toBe(503);
    expect(ex.requests().map((r) => r.scripted)).toEqual(['rate-limit', 'server-error', 'html', 'json-error', undefined, undefined, undefined, { status: 503, body: 'Service Unavailable', contentType: 'text/plain' }]);
    // Scripted 429s are not the limiter's: no escalation.
    expect(ex.stats.rest418).toBe(0);
  });
});

describe('playback', () => {
  test('a number speed paces the frames in event-time order and finishes', async () => {
    const speed = 5000;
    const ex = await standin({ files: [BTC23], speed });
    const c = await client(`${ex.wsBaseUrl}/market/stream?streams=${BTC_STREAM}`);
    expect(ex.serverTime()).toBe(ex.timelineInfo.start - 1);
    const t0 = Date.now();
    ex.play();
    await ex.finished;
    const elapsed = Date.now() - t0;
    const span = ex.timelineInfo.end - ex.timelineInfo.start;
    expect(elapsed).toBeGreaterThanOrEqual(Math.floor(span / speed) - 5);
    await waitFor(() => c.frames.length === ex.timelineInfo.trades, 'every frame');
    const times = c.frames.map((f) => dataOf(f).E as number);
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(ex.serverTime()).toBeGreaterThanOrEqual(ex.timelineInfo.end);
  });

  test('playOn first-subscription waits for a subscribed connection; manual-only calls are refused otherwise', async () => {
    const ex = await standin({ files: [BTC23], speed: 'max', playOn: 'first-subscription' });
    const idle = await client(`${ex.wsBaseUrl}/market/ws`);
    expect(ex.stats.tradesReleased).toBe(0);
    expect(() => ex.advance(1)).toThrow(/manual/);
    await idle.request({ method: 'SUBSCRIBE', params: [BTC_STREAM], id: 1 });
    await ex.finished;
    await waitFor(() => idle.frames.length === ex.timelineInfo.trades + 1, 'every frame after the reply');
  });
});

describe('standalone process', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-standin-'));
  });
  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('prints where it listens, releases frames, answers control requests, exits 0 on SIGTERM', async () => {
    const config = path.join(tmp, 'standin.json');
    fs.writeFileSync(config, JSON.stringify({ files: [path.relative(tmp, BTC23)], speed: 'max', playOn: 'first-subscription', shiftTo: 'now', shiftUnitMs: 60_000 }));
    const proc = await startStandinProcess([config, '--seed', '9']);
    try {
      expect(proc.info).toMatchObject({ wsBaseUrl: expect.stringMatching(/^ws:\/\/127\.0\.0\.1:\d+$/), restBaseUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), market: 'usdm', symbols: ['BTCUSDT'] });
      expect(Math.abs(proc.info.timelineStart - Date.now())).toBeLessThan(120_000);
      const c = await client(`${proc.info.wsBaseUrl}/market/stream?streams=${BTC_STREAM}`);
      await waitFor(() => proc.lines.some((l) => l.event === 'finished'), 'the finished line', 20_000);
      await waitFor(() => c.frames.length === proc.info.trades, 'every frame');
      const expected = (await get(`${proc.info.restBaseUrl}/__standin/expected`)).json() as Record<string, number[]>;
      expect(expected.BTCUSDT).toEqual((await sourceIds(BTC23)).get('BTCUSDT'));
      expect((await fetch(`${proc.info.restBaseUrl}/__standin/cut?mode=clean`, { method: 'POST' })).status).toBe(200);
      expect((await c.closed).code).toBe(1001);
    } finally {
      expect(await proc.stop()).toBe(0);
    }
  });

  test('bad usage exits 2 with a message', async () => {
    await expect(startStandinProcess(['--speed', 'fast', '--file', BTC23])).rejects.toThrow(/exited with 2.*--speed/s);
  });
});
