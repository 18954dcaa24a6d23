import type { AddressInfo } from 'node:net';
import type { IncomingMessage } from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import { BinanceStreamPool, type BinanceStreamPoolOptions, type StreamEvents } from '../../src/exchange/binance-streams';
import { createLogger } from '../../src/observability/log';

// ---------------------------------------------------------------------------------------------------------
// A fake exchange: records every connection, its streams, what it receives, and lets a test act on it.

interface ServerConn {
  n: number;
  ws: WebSocket;
  path: string;
  streams: string[];
  openedAt: number;
  closedAt: number | undefined;
  messages: Array<{ at: number; msg: { method: string; params: string[]; id: number } }>;
  pings: number;
  pongs: number;
}

class FakeExchange {
  readonly conns: ServerConn[] = [];
  private wss!: WebSocketServer;
  url = '';
  /** Called for every new connection. */
  onConnection: (c: ServerConn) => void = () => {};
  /** Handshake n (1-based) accepted? */
  accept: (n: number) => boolean = () => true;
  /** Answer to a SUBSCRIBE / UNSUBSCRIBE message. */
  reply: (c: ServerConn, msg: { method: string; params: string[]; id: number }) => unknown = (_c, m) => ({ result: null, id: m.id });
  private handshakes = 0;

  async start(options: { autoPong?: boolean } = {}): Promise<void> {
    this.wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      autoPong: options.autoPong ?? true,
      verifyClient: (_info: { req: IncomingMessage }, cb: (ok: boolean, code?: number) => void) => cb(this.accept(++this.handshakes), 503),
    });
    this.wss.on('connection', (ws, req) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const c: ServerConn = {
        n: this.conns.length + 1, ws, path: url.pathname, streams: (url.searchParams.get('streams') ?? '').split('/').filter(Boolean),
        openedAt: Date.now(), closedAt: undefined, messages: [], pings: 0, pongs: 0,
      };
      this.conns.push(c);
      ws.on('ping', () => c.pings++);
      ws.on('pong', () => c.pongs++);
      ws.on('close', () => (c.closedAt = Date.now()));
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString()) as ServerConn['messages'][number]['msg'];
        c.messages.push({ at: Date.now(), msg });
        for (const s of msg.params) {
          if (msg.method === 'SUBSCRIBE') c.streams.push(s);
          else c.streams = c.streams.filter((x) => x !== s);
        }
        const r = this.reply(c, msg);
        if (r !== undefined && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(r));
      });
      this.onConnection(c);
    });
    await new Promise<void>((resolve) => this.wss.once('listening', () => resolve()));
    this.url = `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  open(): ServerConn[] {
    return this.conns.filter((c) => c.closedAt === undefined);
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

let aggId = 1;
function aggTradeFrame(stream: string): string {
  const symbol = stream.slice(0, stream.indexOf('@')).toUpperCase();
  const a = aggId++;
  return JSON.stringify({ stream, data: { e: 'aggTrade', E: 1_700_000_000_000 + a, s: symbol, a, p: '100.5', q: '1', f: a, l: a, T: 1_700_000_000_000 + a, m: false } });
}

// ---------------------------------------------------------------------------------------------------------
// Recording what the pool tells us.

type Ev =
  | { t: 'open'; id: number; symbols: string[]; replacing: number | undefined; at: number }
  | { t: 'closed'; id: number; symbols: string[]; planned: boolean; reason: string; at: number }
  | { t: 'frame'; id: number; data: Buffer; at: number }
  | { t: 'alive'; id: number; at: number };

class Recorder implements StreamEvents {
  readonly events: Ev[] = [];
  frame(connection: number, data: Buffer, receivedAt: number): void {
    this.events.push({ t: 'frame', id: connection, data, at: receivedAt });
  }
  open(connection: number, symbols: readonly string[], replacing: number | undefined): void {
    this.events.push({ t: 'open', id: connection, symbols: [...symbols], replacing, at: Date.now() });
  }
  closed(connection: number, symbols: readonly string[], planned: boolean, reason: string): void {
    this.events.push({ t: 'closed', id: connection, symbols: [...symbols], planned, reason, at: Date.now() });
  }
  alive(connection: number, at: number): void {
    this.events.push({ t: 'alive', id: connection, at });
  }
  of<T extends Ev['t']>(t: T): Array<Extract<Ev, { t: T }>> {
    return this.events.filter((e): e is Extract<Ev, { t: T }> => e.t === t);
  }
  /** Lifecycle only (open / closed), as compact strings. */
  lifecycle(): string[] {
    return this.events.flatMap((e) =>
      e.t === 'open' ? [`open ${e.id}${e.replacing !== undefined ? ` replacing ${e.replacing}` : ''}`] : e.t === 'closed' ? [`closed ${e.id} ${e.planned ? 'planned' : 'unplanned'}`] : [],
    );
  }
}

async function until(cond: () => boolean, what: string, timeoutMs = 4000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

let exchange: FakeExchange;
let rec: Recorder;
let pools: BinanceStreamPool[];
let logLines: Array<{ level: string; msg: string; [k: string]: unknown }>;
let reconnects: string[];
let connectionCounts: number[];

beforeEach(async () => {
  exchange = new FakeExchange();
  rec = new Recorder();
  pools = [];
  logLines = [];
  reconnects = [];
  connectionCounts = [];
});

afterEach(async () => {
  for (const p of pools) await p.close();
  await exchange.stop();
});

function pool(over: Partial<BinanceStreamPoolOptions> = {}): BinanceStreamPool {
  const p = new BinanceStreamPool({
    wsBaseUrl: exchange.url,
    combinedStreamPath: '/market/stream',
    streamsPerConnection: 10,
    lifetimeMs: 3_600_000,
    backoff: { initialMs: 50, maxMs: 400 },
    log: createLogger({ level: 'debug', sink: { write: (line) => logLines.push(JSON.parse(line)) } }),
    events: rec,
    metrics: { reconnects: (r) => reconnects.push(r), connections: (n) => connectionCounts.push(n) },
    ...over,
  });
  pools.push(p);
  return p;
}

// ---------------------------------------------------------------------------------------------------------

test('splits the symbols over as many connections as the per-connection limit needs, frames as Buffers', async () => {
  await exchange.start();
  exchange.onConnection = (c) => {
    for (const s of c.streams) c.ws.send(aggTradeFrame(s));
  };
  const p = pool({ streamsPerConnection: 2 });
  p.setSymbols(['BTCUSDT', 'ETHUSDT', 'BNBUSDT', 'SOLUSDT', 'XRPUSDT', 'BTCUSDT']);
  await until(() => rec.of('frame').length === 5, 'a frame per symbol');

  expect(exchange.conns.map((c) => [c.path, c.streams])).toEqual([
    ['/market/stream', ['btcusdt@aggTrade', 'ethusdt@aggTrade']],
    ['/market/stream', ['bnbusdt@aggTrade', 'solusdt@aggTrade']],
    ['/market/stream', ['xrpusdt@aggTrade']],
  ]);
  const opens = rec.of('open');
  expect(opens.map((o) => o.symbols).sort()).toEqual([['BNBUSDT', 'SOLUSDT'], ['BTCUSDT', 'ETHUSDT'], ['XRPUSDT']]);
  expect(opens.every((o) => o.replacing === undefined)).toBe(true);
  for (const f of rec.of('frame')) {
    expect(Buffer.isBuffer(f.data)).toBe(true);
    const symbol = (JSON.parse(f.data.toString()) as { data: { s: string } }).data.s;
    expect(opens.find((o) => o.id === f.id)!.symbols).toContain(symbol);
  }
  const d = p.describe();
  expect(d).toHaveLength(3);
  expect(d.every((c) => c.state === 'open' && c.framesReceived >= 1 && c.openedAt !== undefined)).toBe(true);
  expect(connectionCounts[connectionCounts.length - 1]).toBe(3);
});

test('answers the server\'s pings and sends its own; pongs are proof of life', async () => {
  await exchange.start();
  const p = pool({ pingIntervalMs: 40 });
  p.setSymbols(['BTCUSDT']);
  await until(() => exchange.conns.length === 1 && rec.of('open').length === 1, 'the connection');
  const c = exchange.conns[0]!;
  c.ws.ping();
  c.ws.ping();
  await until(() => c.pongs === 2, 'pongs for the server pings');
  await until(() => c.pings >= 3, 'our own pings');
  await until(() => rec.of('alive').length >= 3, 'alive events');
  expect(rec.of('closed')).toHaveLength(0);
});

test('a connection with no frame and no pong is declared dead, terminated and reconnected after a backoff', async () => {
  await exchange.start({ autoPong: false });
  const p = pool({ pingIntervalMs: 30, deadAfterMs: 200, backoff: { initialMs: 100, maxMs: 400 }, random: () => 0.999 });
  p.setSymbols(['BTCUSDT', 'ETHUSDT']);
  await until(() => rec.of('open').length === 2, 'the reconnect', 5000);
  const [closed] = rec.of('closed');
  expect(closed).toMatchObject({ id: 1, planned: false, symbols: ['BTCUSDT', 'ETHUSDT'] });
  expect(closed!.reason).toMatch(/dead: no frame or pong for \d+ ms/);
  expect(rec.lifecycle().slice(0, 3)).toEqual(['open 1', 'closed 1 unplanned', 'open 2']);
  expect(reconnects[0]).toBe('dead');
  const [, second] = exchange.conns;
  expect(second!.openedAt - closed!.at).toBeGreaterThanOrEqual(90); // full jitter with random ~1: ~99 ms
  expect(exchange.conns[0]!.pings).toBeGreaterThanOrEqual(3); // we kept pinging; nobody answered
});

test('backoff grows while connections keep failing', async () => {
  await exchange.start();
  exchange.onConnection = (c) => c.ws.terminate();
  pool({ backoff: { initialMs: 60, maxMs: 240 }, random: () => 0.999 }).setSymbols(['BTCUSDT']);
  await until(() => exchange.conns.length >= 5, 'five connections', 5000);
  const gaps = exchange.conns.slice(1, 5).map((c, i) => c.openedAt - exchange.conns[i]!.openedAt);
  expect(gaps[0]).toBeGreaterThanOrEqual(55);
  expect(gaps[1]).toBeGreaterThanOrEqual(115);
  expect(gaps[2]).toBeGreaterThanOrEqual(235);
  expect(gaps[3]).toBeGreaterThanOrEqual(235); // capped at maxMs
  expect(gaps[3]).toBeLessThan(600);
  expect(new Set(reconnects)).toEqual(new Set(['closed']));
});

test('the reconnect delay starts over once a connection opened and delivered frames (an exchange that cuts every few seconds)', async () => {
  await exchange.start();
  // Every connection works (one frame of its stream), then is cut 30 ms later.
  exchange.onConnection = (c) => {
    c.ws.send(aggTradeFrame(c.streams[0]!));
    setTimeout(() => c.ws.terminate(), 30);
  };
  pool({ backoff: { initialMs: 60, maxMs: 4000 }, random: () => 0.999 }).setSymbols(['BTCUSDT']);
  await until(() => exchange.conns.length >= 7, 'seven connections', 8000);
  // Each delay is the first step's (~60 ms after the ~30 ms the connection lived), never 120, 240, ... 3,840 ms.
  const gaps = exchange.conns.slice(1, 7).map((c, i) => c.openedAt - exchange.conns[i]!.openedAt);
  for (const g of gaps) expect(g).toBeLessThan(400);
  expect(rec.of('frame').length).toBeGreaterThanOrEqual(6);
});

test('two pools number their connections apart (two feeds of the same symbols)', async () => {
  await exchange.start();
  pool({ connectionIds: { first: 1, step: 2 } }).setSymbols(['BTCUSDT', 'ETHUSDT']);
  pool({ connectionIds: { first: 2, step: 2 }, streamsPerConnection: 1 }).setSymbols(['BTCUSDT', 'ETHUSDT']);
  await until(() => rec.of('open').length === 3, 'three connections');
  expect(rec.of('open').map((o) => o.id).sort()).toEqual([1, 2, 4]);
});

test('an abrupt cut: closed(planned=false) with the symbols, then a new connection opens with them', async () => {
  await exchange.start();
  exchange.onConnection = (c) => c.ws.send(aggTradeFrame(c.streams[0]!));
  pool().setSymbols(['BTCUSDT', 'ETHUSDT']);
  await until(() => rec.of('frame').length === 1, 'the first frame');
  exchange.conns[0]!.ws.terminate();
  await until(() => rec.of('open').length === 2 && rec.of('frame').length === 2, 'the reconnect');
  expect(rec.lifecycle()).toEqual(['open 1', 'closed 1 unplanned', 'open 2']);
  const closed = rec.of('closed')[0]!;
  expect(closed.symbols).toEqual(['BTCUSDT', 'ETHUSDT']);
  expect(closed.reason).toMatch(/closed by peer \(code 1006/);
  expect(rec.of('open')[1]!.symbols).toEqual(['BTCUSDT', 'ETHUSDT']);
  expect(exchange.conns[1]!.streams).toEqual(['btcusdt@aggTrade', 'ethusdt@aggTrade']);
  expect(rec.of('frame').map((f) => f.id)).toEqual([1, 2]);
  expect(reconnects).toEqual(['closed']);
});

test('planned replacement: the new connection opens first, the old closes after the new one\'s first frame', async () => {
  await exchange.start();
  exchange.onConnection = (c) => setTimeout(() => c.ws.readyState === WebSocket.OPEN && c.ws.send(aggTradeFrame(c.streams[0]!)), 80);
  pool({ lifetimeMs: 400, random: () => 0 }).setSymbols(['BTCUSDT']);
  await until(() => rec.of('closed').length >= 1, 'the planned close');
  expect(rec.lifecycle().slice(0, 3)).toEqual(['open 1', 'open 2 replacing 1', 'closed 1 planned']);
  const closed = rec.of('closed')[0]!;
  expect(closed).toMatchObject({ id: 1, planned: true, symbols: ['BTCUSDT'] });
  // The new connection's first frame came before the old one was closed.
  const firstOf2 = rec.events.findIndex((e) => e.t === 'frame' && e.id === 2);
  expect(firstOf2).toBeGreaterThan(-1);
  expect(firstOf2).toBeLessThan(rec.events.indexOf(closed));
  // Overlap on the exchange's side: connection 2 was there before connection 1 went.
  await until(() => exchange.conns[0]!.closedAt !== undefined, 'the old socket to close');
  expect(exchange.conns[1]!.openedAt).toBeLessThanOrEqual(exchange.conns[0]!.closedAt!);
  expect(exchange.conns[1]!.streams).toEqual(['btcusdt@aggTrade']);
  expect(reconnects).toContain('lifetime');
});

test('planned replacement on a quiet market: the old one closes once the new one has been open for overlapMs', async () => {
  await exchange.start();
  pool({ lifetimeMs: 200, overlapMs: 250, random: () => 0 }).setSymbols(['BTCUSDT']);
  await until(() => rec.of('closed').length >= 1, 'the planned close');
  expect(rec.lifecycle().slice(0, 3)).toEqual(['open 1', 'open 2 replacing 1', 'closed 1 planned']);
  const open2 = rec.of('open')[1]!;
  expect(rec.of('closed')[0]!.at - open2.at).toBeGreaterThanOrEqual(240);
});

test('a replacement that fails to open keeps the old connection and is retried', async () => {
  await exchange.start();
  exchange.accept = (n) => n === 1 || n >= 4; // the 2nd and 3rd handshakes get HTTP 503
  pool({ lifetimeMs: 300, overlapMs: 50, backoff: { initialMs: 60, maxMs: 120 }, random: () => 0.5 }).setSymbols(['BTCUSDT']);
  await until(() => rec.of('closed').length >= 1, 'the replacement', 5000);
  expect(reconnects.filter((r) => r === 'replacement_failed')).toHaveLength(2);
  expect(rec.lifecycle().slice(0, 3)).toEqual(['open 1', `open ${rec.of('open')[1]!.id} replacing 1`, 'closed 1 planned']);
  expect(rec.of('closed').every((c) => c.planned)).toBe(true);
  expect(logLines.some((l) => l.level === 'warn' && /replacement failed: keeping the old connection/.test(l.msg))).toBe(true);
});

test('setSymbols: SUBSCRIBE at most 5 per second per connection, UNSUBSCRIBE on removal, replies reach frame()', async () => {
  await exchange.start();
  const p = pool({ streamsPerConnection: 50 });
  const symbols = ['BTCUSDT'];
  p.setSymbols(symbols);
  await until(() => rec.of('open').length === 1, 'the connection');
  for (let i = 1; i <= 12; i++) {
    symbols.push(`COIN${i}USDT`);
    p.setSymbols(symbols);
  }
  const c = exchange.conns[0]!;
  await until(() => c.messages.length === 12, 'twelve SUBSCRIBE messages', 6000);
  expect(c.messages.map((m) => [m.msg.method, m.msg.params])).toEqual(Array.from({ length: 12 }, (_, i) => ['SUBSCRIBE', [`coin${i + 1}usdt@aggTrade`]]));
  const times = c.messages.map((m) => m.at);
  for (let i = 0; i + 5 < times.length; i++) expect(times[i + 5]! - times[i]!).toBeGreaterThanOrEqual(950);
  expect(times[11]! - times[0]!).toBeGreaterThanOrEqual(1950);
  expect(exchange.conns).toHaveLength(1); // all of them fitted into the connection
  await until(() => rec.of('frame').length === 12, 'the replies');
  expect(rec.of('frame').every((f) => /^\{"result":null,"id":\d+\}$/.test(f.data.toString()))).toBe(true);

  p.setSymbols(symbols.filter((s) => s !== 'COIN3USDT'));
  await until(() => c.messages.length === 13, 'the UNSUBSCRIBE', 3000);
  expect(c.messages[12]!.msg).toMatchObject({ method: 'UNSUBSCRIBE', params: ['coin3usdt@aggTrade'] });
  expect(p.describe()[0]!.symbols).not.toContain('COIN3USDT');
  expect(rec.of('closed')).toHaveLength(0);
});

test('setSymbols: beyond the per-connection limit a new connection opens; a connection left empty closes', async () => {
  await exchange.start();
  const p = pool({ streamsPerConnection: 2 });
  p.setSymbols(['BTCUSDT', 'ETHUSDT']);
  await until(() => rec.of('open').length === 1, 'the first connection');
  p.setSymbols(['BTCUSDT', 'ETHUSDT', 'SOLUSDT']);
  await until(() => rec.of('open').length === 2, 'the second connection');
  expect(exchange.conns[1]!.streams).toEqual(['solusdt@aggTrade']);
  expect(exchange.conns[0]!.messages).toHaveLength(0);
  p.setSymbols(['BTCUSDT', 'ETHUSDT']);
  await until(() => rec.of('closed').length === 1, 'the empty connection to close');
  expect(rec.of('closed')[0]).toMatchObject({ id: 2, symbols: [], planned: true, reason: 'no symbols left' });
  expect(p.describe().map((d) => d.id)).toEqual([1]);
});

test('an error reply from the exchange is passed on and logged as a warning', async () => {
  await exchange.start();
  exchange.reply = (_c, m) => ({ error: { code: 2, msg: 'Invalid request' }, id: m.id });
  const p = pool();
  p.setSymbols(['BTCUSDT']);
  await until(() => rec.of('open').length === 1, 'the connection');
  p.setSymbols(['BTCUSDT', 'B@D']);
  await until(() => rec.of('frame').length === 1, 'the error reply');
  expect(rec.of('frame')[0]!.data.toString()).toContain('Invalid request');
  const warn = logLines.find((l) => l.msg === 'exchange stream error reply');
  expect(warn).toMatchObject({ level: 'warn', method: 'SUBSCRIBE', error: { code: 2, msg: 'Invalid request' } });
  expect(rec.of('closed')).toHaveLength(0);
});

test('a frame larger than maxFrameBytes closes that connection (1009), is counted, and it reconnects', async () => {
  await exchange.start();
  exchange.onConnection = (c) => {
    if (c.n === 1) c.ws.send('{"stream":"btcusdt@aggTrade","data":"' + 'x'.repeat(5000) + '"}');
    else c.ws.send(aggTradeFrame(c.streams[0]!));
  };
  const closeCodes: number[] = [];
  exchange.onConnection = ((orig) => (c: ServerConn) => {
    c.ws.on('close', (code) => closeCodes.push(code));
    orig(c);
  })(exchange.onConnection);
  pool({ maxFrameBytes: 1024 }).setSymbols(['BTCUSDT']);
  await until(() => rec.of('frame').length === 1, 'a frame on the new connection');
  expect(rec.lifecycle()).toEqual(['open 1', 'closed 1 unplanned', 'open 2']);
  expect(rec.of('closed')[0]!.reason).toMatch(/frame larger than 1024 bytes/);
  expect(rec.of('frame')[0]!.id).toBe(2);
  expect(reconnects).toEqual(['frame_too_large']);
  expect(logLines.some((l) => l.level === 'error' && /frame too large/.test(l.msg))).toBe(true);
  await until(() => closeCodes.length >= 1, 'the server to see the close');
  expect(closeCodes[0]).toBe(1009);
});

test('a throwing frame handler is logged and does not break the connection', async () => {
  await exchange.start();
  exchange.onConnection = (c) => {
    c.ws.send(aggTradeFrame(c.streams[0]!));
    c.ws.send(aggTradeFrame(c.streams[0]!));
  };
  let calls = 0;
  pool({
    events: {
      ...{ open: () => {}, closed: () => {}, alive: () => {} },
      frame: () => {
        calls++;
        throw new Error('handler bug');
      },
    },
  }).setSymbols(['BTCUSDT']);
  await until(() => calls === 2, 'both frames');
  expect(logLines.filter((l) => /frame handler threw/.test(l.msg))).toHaveLength(2);
});

test('close() closes every socket, clears every timer, and emits nothing more', async () => {
  await exchange.start();
  exchange.accept = (n) => n <= 2; // the third connection is refused: that slot sits in its reconnect wait
  const baseline = resources();
  const p = pool({ streamsPerConnection: 1, pingIntervalMs: 20, lifetimeMs: 60_000, backoff: { initialMs: 5000, maxMs: 5000 } });
  p.setSymbols(['BTCUSDT', 'ETHUSDT', 'SOLUSDT']);
  await until(() => rec.of('open').length === 2 && reconnects.includes('connect_failed'), 'two connections and a refused one');
  const before = rec.events.length;
  await p.close();
  expect(rec.events.slice(before).filter((e) => e.t !== 'alive')).toEqual([]);
  await until(() => exchange.open().length === 0, 'the exchange to see every connection closed');
  await until(() => sameOrFewer(resources(), baseline), `no handles beyond the baseline (${JSON.stringify(resources())} vs ${JSON.stringify(baseline)})`);
  expect(p.describe()).toEqual([]);
  expect(connectionCounts[connectionCounts.length - 1]).toBe(0);
});

function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) if (r === 'Timeout' || r === 'TCPSocketWrap') counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

function sameOrFewer(now: Record<string, number>, base: Record<string, number>): boolean {
  return Object.entries(now).every(([k, n]) => n <= (base[k] ?? 0));
}
