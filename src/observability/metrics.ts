/**
 * Prometheus metrics for every long-running process (producer, worker, downstream readers): one prom-client
 * Registry per process with the default process metrics (resident memory, CPU, event-loop lag, GC), the
 * process's own counters, and a small HTTP server that answers `GET /metrics` (text format) and
 * `GET /healthz`. Metric names are `klinestream_<component>_<what>`; counters are incremented on slow paths
 * or per batch, never through a label lookup per record.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Logger } from './log';

export function createRegistry(component: string, labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component, ...labels });
  collectDefaultMetrics({ register: registry, prefix: 'klinestream_' });
  return registry;
}

export interface MetricsServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `registry` on 127.0.0.1:`port` (0 = any free port; the chosen one is logged and returned).
 * `health` answers /healthz: 200 with its JSON when ok, 503 otherwise.
 */
export async function serveMetrics(
  registry: Registry,
  port: number,
  log: Logger,
  health: () => { ok: boolean; [k: string]: unknown } = () => ({ ok: true }),
  host = '127.0.0.1',
): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (req.method === 'GET' && (url === '/metrics' || url.startsWith('/metrics?'))) {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (e: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics failed: ${(e as Error).message}\n`);
        },
      );
      return;
    }
    if (req.method === 'GET' && url === '/healthz') {
      const h = health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(h));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: try /metrics or /healthz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  // A scrape in flight must not keep the process alive at shutdown.
  server.unref();
  const actual = (server.address() as AddressInfo).port;
  const url = `http://${host}:${actual}/metrics`;
  log.info('metrics listening', { url });
  return {
    port: actual,
    url,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
