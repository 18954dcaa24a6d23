/**
 * The live page (`klinestream run`, http://127.0.0.1:8080 unless KLINESTREAM_HTTP_PORT says otherwise):
 *
 *   klines topic --KlineConsumer--> KlineStore (latest version of the recent klines per symbol x interval)
 *        --> WebSocket /ws: history on subscribe, then batched updates of the subscribed series
 *   children's /metrics --scrape every 2 s--> SystemStatus --> WebSocket (status panel), /api/status
 *
 * Static files come from src/web/static/ in the package, the chart library (TradingView lightweight-charts,
 * its standalone browser build) from node_modules: nothing from the internet, the page works offline.
 *
 * HTTP: `/` the page, `/api/series`, `/api/klines?symbol=S&interval=I` (what the chart was sent),
 * `/api/status`, `/healthz`, `/metrics` (this process's own Prometheus metrics).
 *
 * Only this machine is answered (host-check.ts): a request whose Host or Origin names another host gets 403,
 * on HTTP and on the WebSocket upgrade. Memory is bounded per client: clients send only small subscribe
 * messages (maxPayload), and a client whose unsent bytes pass `maxClientBufferedBytes` (it stopped reading)
 * is disconnected rather than queued for; the browser page reconnects and gets the history again.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Counter, type Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Kline } from '../codec/records';
import { KlineConsumer, type KlineConsumerOptions } from '../downstream/kline-consumer';
import type { Logger } from '../observability/log';
import { RateLimitedLog } from '../observability/rate-limited-log';
import { packageRoot } from '../config/package-root';
import { HostCheck, type RefusalReason } from './host-check';
import { KlineStore } from './kline-store';
import { StatusTracker, scrape, summarize, type MetricsTarget, type SystemStatus } from './system-status';

export interface PageServerOptions {
  port: number;
  host?: string;
  log: Logger;
  /** The processes to scrape for the status panel (asked again at every scrape: children restart). */
  targets: () => MetricsTarget[];
  /** Facts about the system for the panel: mode, topic prefix, process states (asked at every scrape). */
  info: () => Record<string, unknown>;
  /** Intervals in display order (the configured ones). */
  intervals: readonly string[];
  registry?: Registry;
  scrapeIntervalMs?: number;
  maxPerSeries?: number;
  /** Host names answered besides 127.0.0.1, localhost and [::1] (KLINESTREAM_PAGE_ALLOWED_HOSTS). */
  allowedHosts?: readonly string[];
  /** Unsent bytes a client may have queued before it is disconnected (KLINESTREAM_PAGE_CLIENT_BUFFER_BYTES). */
  maxClientBufferedBytes?: number;
  /** WebSocket clients at once; more are refused with 503 (KLINESTREAM_PAGE_MAX_CLIENTS). */
  maxClients?: number;
  /** How often pending kline updates are pushed (tests make it short). */
  broadcastIntervalMs?: number;
}

/** Defaults of the page's bounds (the CLI passes the configured ones). */
export const PAGE_DEFAULTS = {
  maxClientBufferedBytes: 8 * 1024 * 1024,
  maxClients: 32,
  /** Clients send `{"type":"subscribe","symbol":..,"interval":..}`: a few hundred bytes at most. */
  maxPayloadBytes: 4096,
} as const;

interface Client {
  ws: WebSocket;
  key: string | undefined;
  /** For log lines about this client. */
  remote: string | undefined;
}

const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};
const BROADCAST_MS = 150;
const FORBIDDEN_TEXT = 'forbidden: this page answers only requests for this machine (see KLINESTREAM_PAGE_ALLOWED_HOSTS)\n';
const CONSUMER_RETRY_MS = 2000;

function chartLibrary(): string {
  // The package exports only its ESM entry; the standalone browser build sits beside it in dist/.
  const pkg = require.resolve('lightweight-charts/package.json');
  return path.join(path.dirname(pkg), 'dist', 'lightweight-charts.standalone.production.js');
}

const seriesKey = (symbol: string, interval: string) => `${symbol}\u0000${interval}`;

export class PageServer {
  readonly store: KlineStore;
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  private readonly pending = new Map<string, Map<number, Kline>>();
  private readonly tracker = new StatusTracker();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly staticDir = path.join(packageRoot(), 'src', 'web', 'static');
  private status: SystemStatus | undefined;
  private consumer: KlineConsumer | undefined;
  private closed = false;
  private scraping = false;
  private readonly hostCheck: HostCheck;
  private readonly maxBuffered: number;
  private readonly maxClients: number;
  private readonly refusedLog: RateLimitedLog;
  private readonly refusedCounter: Counter<'reason' | 'kind'>;
  private readonly droppedCounter: Counter<'reason'>;
  url = '';
  /** Kline records received from the topic (after dedupe). */
  received = 0;

  constructor(private readonly options: PageServerOptions) {
    this.store = new KlineStore(options.maxPerSeries ?? 1500);
    this.hostCheck = new HostCheck(options.allowedHosts ?? []);
    this.maxBuffered = options.maxClientBufferedBytes ?? PAGE_DEFAULTS.maxClientBufferedBytes;
    this.maxClients = options.maxClients ?? PAGE_DEFAULTS.maxClients;
    this.refusedLog = new RateLimitedLog(options.log);
    const registers = options.registry === undefined ? [] : [options.registry];
    this.refusedCounter = new Counter({
      name: 'klinestream_page_refused_requests_total',
      help: 'Requests to the live page refused: reason=host (Host names another machine), origin (a foreign web page), too_many_clients; kind=http or ws',
      labelNames: ['reason', 'kind'], registers,
    });
    this.droppedCounter = new Counter({
      name: 'klinestream_page_clients_dropped_total',
      help: 'WebSocket clients of the live page disconnected by the server: reason=slow (unsent bytes passed the bound)',
      labelNames: ['reason'], registers,
    });
    this.server = http.createServer((req, res) => {
      if (this.refuse(req, 'http')) {
        res.writeHead(403, { 'content-type': 'text/plain' });
        res.end(FORBIDDEN_TEXT);
        return;
      }
      this.handle(req, res);
    });
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: PAGE_DEFAULTS.maxPayloadBytes });
    this.server.on('upgrade', (req, socket, head) => {
      if ((req.url ?? '').split('?')[0] !== '/ws') {
        socket.destroy();
        return;
      }
      if (this.refuse(req, 'ws')) {
        socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(FORBIDDEN_TEXT)}\r\nConnection: close\r\n\r\n${FORBIDDEN_TEXT}`);
        return;
      }
      if (this.clients.size >= this.maxClients) {
        this.refusedCounter.inc({ reason: 'too_many_clients', kind: 'ws' });
        this.refusedLog.write('warn', 'too_many_clients', 'live page: WebSocket refused, too many clients', { maxClients: this.maxClients, remote: req.socket.remoteAddress });
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.connected(ws, req.socket.remoteAddress));
    });
  }

  /** Binds the port (fails at once when it is taken) and starts the status scrapes. */
  async listen(): Promise<string> {
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const port = (this.server.address() as AddressInfo).port;
    this.url = `http://${host}:${port}/`;
    this.timers.push(setInterval(() => this.broadcast(), this.options.broadcastIntervalMs ?? BROADCAST_MS));
    this.timers.push(setInterval(() => void this.scrapeNow(), this.options.scrapeIntervalMs ?? 2000));
    return this.url;
  }

  /**
   * Follows the klines topic with KlineConsumer until close(); a consumer that fails (Kafka away, topic
   * deleted) is replaced after a pause. `makeOptions` is called for each consumer.
   */
  followKlines(makeOptions: () => Promise<KlineConsumerOptions>): void {
    const loop = async () => {
      while (!this.closed) {
        try {
          const consumer = new KlineConsumer(await makeOptions(), this.options.log);
          this.consumer = consumer;
          if (this.closed) break;
          await consumer.run((k) => this.offer(k));
        } catch (e) {
          if (this.closed) break;
          this.options.log.warn('reading klines for the page failed; retrying', { error: e, retryInMs: CONSUMER_RETRY_MS });
          await new Promise((r) => setTimeout(r, CONSUMER_RETRY_MS));
        } finally {
          this.consumer = undefined;
        }
      }
    };
    void loop();
  }

  /** Takes one kline (from the topic, or a test). */
  offer(k: Kline): void {
    this.received++;
    this.tracker.countKlines(1);
    if (!this.store.upsert(k)) return;
    const key = seriesKey(k.symbol, k.interval);
    let p = this.pending.get(key);
    if (p === undefined) this.pending.set(key, (p = new Map()));
    p.set(k.openTime, k);
  }

  get lastStatus(): SystemStatus | undefined {
    return this.status;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await this.consumer?.stop().catch(() => undefined);
    for (const c of this.clients) c.ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- status ------------------------------------------------------------------------------------------

  async scrapeNow(): Promise<SystemStatus | undefined> {
    if (this.scraping || this.closed) return this.status;
    this.scraping = true;
    try {
      const targets = this.options.targets();
      const scraped = await scrape(targets);
      this.status = this.tracker.next(summarize(targets, scraped));
      this.send({ type: 'status', status: this.status, info: this.options.info() });
      return this.status;
    } finally {
      this.scraping = false;
    }
  }

  /** Unsent bytes the server holds per connected client (what maxClientBufferedBytes bounds). */
  clientBufferedBytes(): number[] {
    return [...this.clients].map((c) => c.ws.bufferedAmount);
  }

  /** True (and counted, logged) when the request names another host or comes from a foreign page. */
  private refuse(req: http.IncomingMessage, kind: 'http' | 'ws'): boolean {
    const reason: RefusalReason | undefined = this.hostCheck.refusal(req.headers.host, req.headers.origin);
    if (reason === undefined) return false;
    this.refusedCounter.inc({ reason, kind });
    this.refusedLog.write('warn', `refused-${reason}`, `live page: ${kind === 'ws' ? 'WebSocket' : 'HTTP request'} refused (403), its ${reason === 'host' ? 'Host' : 'Origin'} is not this machine`, {
      host: req.headers.host, origin: req.headers.origin, path: (req.url ?? '').split('?')[0], remote: req.socket.remoteAddress,
    });
    return true;
  }

  // ---- WebSocket ---------------------------------------------------------------------------------------

  private connected(ws: WebSocket, remote: string | undefined): void {
    const client: Client = { ws, key: undefined, remote };
    this.clients.add(client);
    ws.on('close', () => this.clients.delete(client));
    ws.on('error', () => this.clients.delete(client));
    ws.on('message', (data) => {
      let msg: { type?: unknown; symbol?: unknown; interval?: unknown };
      try {
        msg = JSON.parse(String(data)) as typeof msg;
      } catch {
        return;
      }
      if (msg.type === 'subscribe' && typeof msg.symbol === 'string' && typeof msg.interval === 'string') {
        client.key = seriesKey(msg.symbol, msg.interval);
        this.sendTo(client, { type: 'history', symbol: msg.symbol, interval: msg.interval, klines: this.store.history(msg.symbol, msg.interval) });
      }
    });
    this.sendTo(client, { type: 'series', series: this.store.list(this.options.intervals) });
    if (this.status !== undefined) this.sendTo(client, { type: 'status', status: this.status, info: this.options.info() });
  }

  private sendTo(client: Client, msg: unknown): void {
    this.deliver(client, JSON.stringify(msg));
  }

  private send(msg: unknown): void {
    if (this.clients.size === 0) return;
    const text = JSON.stringify(msg);
    for (const c of this.clients) this.deliver(c, text);
  }

  /**
   * Sends `text` unless the client already holds too much unsent data: then it has stopped reading (or its
   * link is too slow for the stream), and it is disconnected, which frees what it held, instead of being
   * queued for without bound.
   */
  private deliver(client: Client, text: string): void {
    const ws = client.ws;
    if (ws.readyState !== ws.OPEN) return;
    const buffered = ws.bufferedAmount;
    if (buffered + Buffer.byteLength(text) > this.maxBuffered) {
      this.clients.delete(client);
      this.droppedCounter.inc({ reason: 'slow' });
      this.refusedLog.write('warn', 'slow-client', 'live page: disconnected a client that is not reading its updates', {
        bufferedBytes: buffered, maxClientBufferedBytes: this.maxBuffered, remote: client.remote,
      });
      ws.terminate();
      return;
    }
    ws.send(text);
  }

  private broadcast(): void {
    if (this.store.takeListChanged()) this.send({ type: 'series', series: this.store.list(this.options.intervals) });
    if (this.pending.size === 0) return;
    const wanted = new Set<string>();
    for (const c of this.clients) if (c.key !== undefined) wanted.add(c.key);
    for (const [key, klines] of this.pending) {
      if (!wanted.has(key)) continue;
      const list = [...klines.values()].sort((a, b) => a.openTime - b.openTime);
      const text = JSON.stringify({ type: 'update', symbol: list[0]!.symbol, interval: list[0]!.interval, klines: list });
      for (const c of this.clients) if (c.key === key) this.deliver(c, text);
    }
    this.pending.clear();
  }

  // ---- HTTP --------------------------------------------------------------------------------------------

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' });
      res.end();
      return;
    }
    const file = STATIC[url.pathname];
    if (file !== undefined) {
      this.sendFile(res, path.join(this.staticDir, file.file), file.type);
      return;
    }
    switch (url.pathname) {
      case '/vendor/lightweight-charts.js':
        this.sendFile(res, chartLibrary(), 'text/javascript; charset=utf-8');
        return;
      case '/healthz':
        json(200, { ok: true });
        return;
      case '/api/series':
        json(200, this.store.list(this.options.intervals));
        return;
      case '/api/klines': {
        const symbol = url.searchParams.get('symbol');
        const interval = url.searchParams.get('interval');
        if (symbol === null || interval === null) {
          json(400, { error: 'symbol and interval are required' });
          return;
        }
        json(200, this.store.history(symbol, interval));
        return;
      }
      case '/api/status':
        json(200, { status: this.status ?? null, info: this.options.info(), klinesReceived: this.received });
        return;
      case '/metrics':
        if (this.options.registry === undefined) break;
        this.options.registry.metrics().then((text) => {
          res.writeHead(200, { 'content-type': this.options.registry!.contentType });
          res.end(text);
        }, (e: unknown) => {
          res.writeHead(500);
          res.end(String(e));
        });
        return;
      default:
        break;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }

  private sendFile(res: http.ServerResponse, file: string, type: string): void {
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end(`not found: ${path.basename(file)}\n`);
        return;
      }
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' });
      res.end(data);
    });
  }
}
