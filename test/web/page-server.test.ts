/**
 * The live page's server without Kafka (klines are offered directly): it answers only requests that name
 * this machine (Host) and come from its pages (Origin), on HTTP and on the WebSocket upgrade, and a client
 * that stops reading is disconnected before the server holds more than the bound for it.
 */
import * as http from 'node:http';
import { Registry } from 'prom-client';
import { WebSocket } from 'ws';
import type { Kline } from '../../src/codec/records';
import { createLogger } from '../../src/observability/log';
import { PageServer, type PageServerOptions } from '../../src/web/page-server';

const logLines: string[] = [];
const log = createLogger({ level: 'warn', sink: { write: (line) => logLines.push(line) } });

function kline(openTime: number, version: number): Kline {
  return {
    symbol: 'BTCUSDT', interval: '1m', openTime, closeTime: openTime + 59_999, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10, quoteVolume: 15,
    tradeCount: 3, takerBuyVolume: 4, takerBuyQuoteVolume: 6, firstTradeId: 1, lastTradeId: 3, isFinal: false, version,
  };
}

interface Answer { status: number; body: string }

function get(port: number, urlPath: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, headers, setHost: headers.host === undefined }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with the first message, or the HTTP status the upgrade was answered with. */
function openWs(url: string, origin: string | undefined, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; first: unknown } | { refused: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { origin, headers });
    ws.once('message', (data) => resolve({ ws, first: JSON.parse(String(data)) as unknown }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ refused: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.once('error', (e) => reject(e));
  });
}

async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
}

describe('PageServer', () => {
  let page: PageServer;
  let registry: Registry;
  let port: number;
  const sockets: WebSocket[] = [];

  async function start(extra: Partial<PageServerOptions> = {}): Promise<void> {
    registry = new Registry();
    page = new PageServer({ port: 0, log, targets: () => [], info: () => ({}), intervals: ['1m'], registry, scrapeIntervalMs: 3_600_000, ...extra });
    port = Number(new URL(await page.listen()).port);
  }

  afterEach(async () => {
    logLines.length = 0;
    for (const s of sockets.splice(0)) s.terminate();
    await page.close();
  });

  describe('answers only this machine', () => {
    beforeEach(() => start({ allowedHosts: ['klines.example.org'] }));

    it('answers Host 127.0.0.1, localhost, [::1] (any port) and a configured name', async () => {
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'LOCALHOST', 'klines.example.org:443']) {
        expect({ host, status: (await get(port, '/healthz', { host })).status }).toEqual({ host, status: 200 });
      }
      const sameOrigin = await get(port, '/api/series', { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` });
      expect(sameOrigin).toEqual({ status: 200, body: '[]' });
    });

    it('refuses a foreign Host (DNS rebinding) with 403 on the page and the API, counted', async () => {
      for (const p of ['/', '/api/series', '/api/status', '/metrics']) {
        const a = await get(port, p, { host: `attacker.example:${port}` });
        expect({ p, status: a.status }).toEqual({ p, status: 403 });
        expect(a.body).toMatch(/forbidden/);
      }
      expect((await get(port, '/healthz', { host: 'klines.example.org.attacker.example' })).status).toBe(403);
      expect(await counter(registry, 'klinestream_page_refused_requests_total', { reason: 'host', kind: 'http' })).toBe(5);
      expect(logLines.some((l) => l.includes('refused (403)') && l.includes('attacker.example'))).toBe(true);
    });

    it('refuses a foreign Origin on HTTP even with a right Host', async () => {
      expect((await get(port, '/api/klines?symbol=BTCUSDT&interval=1m', { host: `127.0.0.1:${port}`, origin: 'https://attacker.example' })).status).toBe(403);
      expect((await get(port, '/api/series', { host: `127.0.0.1:${port}`, origin: 'null' })).status).toBe(403);
      expect(await counter(registry, 'klinestream_page_refused_requests_total', { reason: 'origin', kind: 'http' })).toBe(2);
    });

    it('refuses a cross-origin WebSocket and one with a foreign Host; accepts the page\'s own', async () => {
      const cross = await openWs(`ws://127.0.0.1:${port}/ws`, 'https://attacker.example');
      expect(cross).toEqual({ refused: 403 });
      const rebound = await openWs(`ws://127.0.0.1:${port}/ws`, `http://attacker.example:${port}`, { host: `attacker.example:${port}` });
      expect(rebound).toEqual({ refused: 403 });
      expect(await counter(registry, 'klinestream_page_refused_requests_total', { kind: 'ws' })).toBe(2);

      for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`, 'https://klines.example.org', undefined]) {
        const ok = await openWs(`ws://127.0.0.1:${port}/ws`, origin);
        if (!('ws' in ok)) throw new Error(`origin ${origin} was refused with ${ok.refused}`);
        sockets.push(ok.ws);
        expect(ok.first).toEqual({ type: 'series', series: [] });
      }
    });
  });

  describe('bounded memory per client', () => {
    const bound = 256 * 1024;

    it('disconnects a client that stops reading before it holds more than the bound, counted', async () => {
      await start({ maxClientBufferedBytes: bound, broadcastIntervalMs: 5 });
      const opened = await openWs(`ws://127.0.0.1:${port}/ws`, `http://127.0.0.1:${port}`);
      if (!('ws' in opened)) throw new Error(`refused ${opened.refused}`);
      const client = opened.ws;
      sockets.push(client);
      const history = new Promise((resolve) => client.once('message', resolve));
      client.send(JSON.stringify({ type: 'subscribe', symbol: 'BTCUSDT', interval: '1m' }));
      await history;
      // From now on the client reads nothing: the kernel's buffers fill, then the server's would.
      client.pause();

      let version = 0;
      let maxBuffered = 0;
      let sent = 0;
      const deadline = Date.now() + 30_000;
      while (page.clientBufferedBytes().length > 0) {
        if (Date.now() > deadline) throw new Error(`the client was never dropped; the server holds ${page.clientBufferedBytes().join(',')} bytes for it after ${sent} klines`);
        version++;
        for (let i = 0; i < 300; i++) page.offer(kline(Date.UTC(2026, 0, 1) + i * 60_000, version));
        sent += 300;
        await new Promise((r) => setTimeout(r, 5));
        maxBuffered = Math.max(maxBuffered, ...page.clientBufferedBytes());
      }
      expect(maxBuffered).toBeLessThanOrEqual(bound);
      expect(await counter(registry, 'klinestream_page_clients_dropped_total', { reason: 'slow' })).toBe(1);
      expect(logLines.some((l) => l.includes('not reading') && l.includes('bufferedBytes'))).toBe(true);
    });

    it('closes a client that sends a message larger than a subscribe can be', async () => {
      await start();
      const opened = await openWs(`ws://127.0.0.1:${port}/ws`, undefined);
      if (!('ws' in opened)) throw new Error(`refused ${opened.refused}`);
      sockets.push(opened.ws);
      const closed = new Promise<number>((resolve) => opened.ws.once('close', (code) => resolve(code)));
      opened.ws.on('error', () => undefined);
      opened.ws.send('x'.repeat(64 * 1024));
      expect(await closed).toBe(1009);
    });

    it('refuses WebSocket clients past maxClients with 503', async () => {
      await start({ maxClients: 1 });
      const first = await openWs(`ws://127.0.0.1:${port}/ws`, undefined);
      if (!('ws' in first)) throw new Error(`refused ${first.refused}`);
      sockets.push(first.ws);
      expect(await openWs(`ws://127.0.0.1:${port}/ws`, undefined)).toEqual({ refused: 503 });
      expect(await counter(registry, 'klinestream_page_refused_requests_total', { reason: 'too_many_clients' })).toBe(1);
    });
  });
});
