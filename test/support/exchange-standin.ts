/**
 * The exchange stand-in for tests: a local Binance market-data server (WebSocket + REST on 127.0.0.1)
 * serving real recorded frames with scripted trouble.
 *
 * Layout (decided once): the implementation lives in scripts/exchange-standin/ so that `npm run build`
 * compiles it, together with the standalone entry scripts/exchange-standin.ts, into dist/scripts/ (the
 * build only covers src/ and scripts/). This file re-exports it for in-process tests and adds two helpers:
 * - StandinClient: a `ws` client that collects every text frame, for assertions by polling (`waitFor`).
 * - startStandinProcess: the stand-in in a child process, as black-box tests of the CLI need it. It runs
 *   the TypeScript entry through @swc/core (a dev dependency; no build needed), or with `{ dist: true }`
 *   the compiled dist/scripts/exchange-standin.js (after `npm run build`).
 *
 * Usage:
 *   const ex = await ExchangeStandin.start({ files: [path], speed: 'max', align: 'start' });
 *   const c = await StandinClient.connect(`${ex.wsBaseUrl}/market/stream?streams=btcusdt@aggTrade`);
 *   ex.play(); await ex.finished; await waitFor(() => c.frames.length === n);
 *   ... ex.expectedTrades(), ex.requests(), ex.connections() ...
 *   await c.close(); await ex.close();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import WebSocket from 'ws';

export * from '../../scripts/exchange-standin/index';

const REPO = path.resolve(__dirname, '../..');
export const STANDIN_ENTRY_TS = path.join(REPO, 'scripts/exchange-standin.ts');
export const STANDIN_ENTRY_DIST = path.join(REPO, 'dist/scripts/exchange-standin.js');

/** Polls `condition` every few ms until it holds; fails after `timeoutMs` naming `what`. */
export async function waitFor(condition: () => boolean, what = 'condition', timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface ClientClose {
  code: number;
  reason: string;
}

/** A WebSocket client that keeps every text frame it receives. */
export class StandinClient {
  readonly frames: string[] = [];
  /** Resolves when the connection is closed (code 1006 = no close frame). */
  readonly closed: Promise<ClientClose>;
  closeInfo: ClientClose | undefined;
  serverPings = 0;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      if (!isBinary) this.frames.push(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8'));
    });
    ws.on('ping', () => this.serverPings++);
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        resolve(this.closeInfo);
      });
    });
  }

  /** Opens a connection; rejects with the HTTP status when the upgrade is refused (e.g. `unexpected status 404`). */
  static connect(url: string, options: { autoPong?: boolean; maxPayload?: number } = {}): Promise<StandinClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, autoPong: options.autoPong ?? true, maxPayload: options.maxPayload ?? 100 * 1024 * 1024 });
      const client = new StandinClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        reject(new Error(`unexpected status ${res.statusCode}`));
        res.resume();
        ws.terminate();
      });
      ws.once('error', (e) => reject(e));
    });
  }

  /** Sends a JSON request and resolves with the next frame that carries its id. */
  async request(body: { method: string; params?: unknown; id: number | string }): Promise<Record<string, unknown>> {
    const from = this.frames.length;
    this.ws.send(JSON.stringify(body));
    let found: Record<string, unknown> | undefined;
    await waitFor(() => {
      for (let i = from; i < this.frames.length && found === undefined; i++) {
        const f = this.frames[i]!;
        if (!f.startsWith('{"result"') && !f.startsWith('{"error"')) continue;
        const m = JSON.parse(f) as Record<string, unknown>;
        if (m.id === body.id) found = m;
      }
      return found !== undefined;
    }, `reply to ${body.method} id ${body.id}`);
    return found!;
  }

  /** Closes (or terminates) and waits for the close. */
  async close(): Promise<void> {
    if (this.closeInfo !== undefined) return;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    else this.ws.terminate();
    const timer = setTimeout(() => this.ws.terminate(), 1000);
    await this.closed;
    clearTimeout(timer);
  }
}

export interface StandinProcess {
  child: ChildProcess;
  /** The first stdout line: wsBaseUrl, restBaseUrl, port, market, timelineStart, timelineEnd, trades, symbols. */
  info: { wsBaseUrl: string; restBaseUrl: string; port: number; market: string; timelineStart: number; timelineEnd: number; trades: number; symbols: string[] };
  /** Every stdout line so far, parsed. */
  lines: Array<Record<string, unknown>>;
  stderr(): string;
  /** SIGTERM and the exit code. */
  stop(): Promise<number | null>;
}

const SWC_LOADER = `
const swc = require('@swc/core');
const fs = require('node:fs');
require.extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformSync(fs.readFileSync(filename, 'utf8'), {
    filename, sourceMaps: 'inline', module: { type: 'commonjs' },
    jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
  });
  module._compile(code, filename);
};
require(process.argv[1]).runMain();
`;

/** Starts the stand-in CLI in a child process with these arguments and waits for its first line. */
export function startStandinProcess(args: string[], options: { dist?: boolean; timeoutMs?: number } = {}): Promise<StandinProcess> {
  let argv: string[];
  if (options.dist) {
    if (!fs.existsSync(STANDIN_ENTRY_DIST)) throw new Error(`${STANDIN_ENTRY_DIST} is missing: run npm run build first`);
    argv = [STANDIN_ENTRY_DIST, ...args];
  } else {
    argv = ['-e', SWC_LOADER, STANDIN_ENTRY_TS, ...args];
  }
  const child = spawn(process.execPath, argv, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  let err = '';
  let buf = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stderr!.on('data', (b: Buffer) => {
    err += b.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`stand-in process did not start within ${options.timeoutMs ?? 20_000} ms; stderr: ${err}`));
    }, options.timeoutMs ?? 20_000);
    child.stdout!.on('data', (b: Buffer) => {
      buf += b.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() === '') continue;
        lines.push(JSON.parse(line) as Record<string, unknown>);
        if (lines.length === 1) {
          clearTimeout(timer);
          resolve({
            child,
            info: lines[0] as unknown as StandinProcess['info'],
            lines,
            stderr: () => err,
            stop: async () => {
              if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
              return exited;
            },
          });
        }
      }
    });
    void exited.then((code) => {
      if (lines.length === 0) {
        clearTimeout(timer);
        reject(new Error(`stand-in process exited with ${code} before listening; stderr: ${err}`));
      }
    });
  });
}
