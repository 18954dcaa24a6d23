/**
 * `klinestream run [--demo]` (`npm start`, `npm run demo`): the whole system as one foreground process tree.
 *
 *   run ── the embedded local stack when no broker is configured (left running, as for every command)
 *    ├─ producer   `produce --source binance --symbols ...`   (demo: `produce --source file:CHUNK --speed 10x`)
 *    ├─ worker-1   `work`
 *    ├─ worker-2   `work`
 *    └─ the live page on http://127.0.0.1:8080 (this process): chart from `klines`, status from the children's /metrics
 *
 * Children are the CLI's own commands, each with its own metrics port; their log lines are shown prefixed
 * with their name (human text on a terminal, JSON otherwise). A child that dies is restarted with backoff.
 * Ctrl-C / SIGTERM stops everything (children get SIGTERM, SIGKILL after a timeout) and leaves nothing behind.
 * Live mode first checks that the exchange answers; when it does not, one sentence says so and points to the demo.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { describeSettings, loadConfig, topicNames, type Config } from '../config/config';
import { klineConsumerOptions, type KlineConsumerOptions } from '../downstream/kline-consumer';
import { KlinestreamError, UsageError } from '../errors';
import { kafkaClient } from '../kafka/client';
import { ensureTopics, topicSpecs } from '../kafka/topics';
import { createLogger, type Logger } from '../observability/log';
import { createRegistry } from '../observability/metrics';
import { registerProcess } from '../observability/process-registry';
import { DemoFeed, type DemoChunk } from '../run/demo-feed';
import { HumanFormatter, JsonFormatter, type LineFormatter } from '../run/log-format';
import { bundledDataDir, cliScript } from '../config/package-root';
import { Supervisor, type Child, type ExitDecision, type ExitInfo } from '../run/supervisor';
import { isAlive } from '../stack/proc';
import { resolveConnection, type Connection } from '../stack/stack';
import { PageServer } from '../web/page-server';
import type { MetricsTarget } from '../web/system-status';
import { parseCommandArgs } from './args';
import type { Command } from './commands';
import { parseSpeed, parseSymbolList } from './produce-command';

const USAGE = `Usage: klinestream run [--symbols A,B | --all] [--workers N]
       klinestream run --demo [--speed 10x|realtime|max|Nx] [--demo-minutes N] [--workers N]

Starts the whole system in the foreground: the embedded local Kafka + schema registry when KAFKA_BROKERS /
SCHEMA_REGISTRY_URL are not set, the topics, the producer, N workers (default 2) and the live page on
http://127.0.0.1:8080 (KLINESTREAM_HTTP_PORT). Ctrl-C stops everything.

  (live)     the producer streams the exchange (KLINESTREAM_MARKET, default Binance USD-M futures) for
             --symbols (default ${'BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT,XRPUSDT'}) or --all; without internet
             it says so and exits 1: use the demo
  --demo     no internet needed: the producer replays the real recordings bundled in data/binance/ as one
             continuous market (times shifted to now, every recording looped), under a fresh topic prefix
             <prefix>demo-<time>. whose topics are deleted when the demo stops
  --speed S  demo: replay speed, default 10x (a 1m candle every 6 s)
  --demo-minutes N  demo: stop the replay after N minutes of market time (default: loop forever)
  --workers N       workers to start (default 2)`;

export const DEFAULT_SYMBOLS = ['BTCUSDT', 'ETHUSDT', 'SOLUSDT', 'BNBUSDT', 'XRPUSDT'];
const PROBE_TIMEOUT_MS = 5000;
const DEMO_CHUNK_MS = 30 * 60_000;
/** Live mode: the page starts with the klines published in the last hour. */
const LIVE_HISTORY_MS = 3600_000;
const STOP_TIMEOUT_MS = 20_000;
const UNREACHABLE = /cannot reach the exchange|EXCHANGE_UNREACHABLE/;

export interface RunArgs {
  demo: boolean;
  symbols: string[] | 'all';
  workers: number;
  speed: number | 'max';
  demoMinutes: number | undefined;
}

export function parseRunArgs(values: Record<string, string | boolean | string[] | undefined>): RunArgs {
  const demo = values.demo === true;
  const symbols = typeof values.symbols === 'string' ? values.symbols : undefined;
  if (values.all === true && symbols !== undefined) throw new UsageError('run: give --symbols or --all, not both');
  if (demo && (values.all === true || symbols !== undefined)) throw new UsageError('run: --symbols and --all are for the live exchange; the demo plays the bundled recordings');
  if (!demo && (values.speed !== undefined || values['demo-minutes'] !== undefined)) throw new UsageError('run: --speed and --demo-minutes are for --demo');
  const rawWorkers = typeof values.workers === 'string' ? values.workers : '2';
  if (!/^\d+$/.test(rawWorkers) || Number(rawWorkers) < 1 || Number(rawWorkers) > 16) throw new UsageError(`run: --workers must be 1..16, got ${JSON.stringify(rawWorkers)}`);
  let demoMinutes: number | undefined;
  if (typeof values['demo-minutes'] === 'string') {
    const m = values['demo-minutes'];
    if (!/^\d+(\.\d+)?$/.test(m) || Number(m) <= 0) throw new UsageError(`run: --demo-minutes must be a positive number, got ${JSON.stringify(m)}`);
    demoMinutes = Number(m);
  }
  let speed: number | 'max' = 10;
  if (typeof values.speed === 'string') speed = parseSpeed(values.speed);
  return {
    demo, workers: Number(rawWorkers), speed, demoMinutes,
    symbols: values.all === true ? 'all' : symbols === undefined ? DEFAULT_SYMBOLS : parseSymbolList(symbols),
  };
}

/** A TCP port nothing listens on right now (the kernel's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Whether the exchange's REST API answers (any HTTP answer counts); the reason when it does not. */
export async function probeExchange(config: Config): Promise<{ ok: true } | { ok: false; url: string; reason: string }> {
  const url = `${config.exchangeRestUrl}${config.marketPaths.restPrefix}/ping`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    await res.arrayBuffer().catch(() => undefined);
    return { ok: true };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const reason = err.name === 'TimeoutError' ? `no answer within ${PROBE_TIMEOUT_MS / 1000} s` : (err.cause?.code ?? err.cause?.message ?? err.message);
    return { ok: false, url: config.exchangeRestUrl, reason };
  }
}

export function unreachableSentence(url: string, reason: string): string {
  return `klinestream run: the exchange at ${url} cannot be reached (${reason}), so there are no live trades to show; run the offline demo instead: npm run demo`;
}

function stamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/** The configuration flags given to `run`, as environment variables for the children. */
function flagsAsEnv(flags: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const s of describeSettings()) {
    const v = flags[s.flag.slice(2)];
    if (v !== undefined) env[s.env] = v;
  }
  return env;
}

class Run {
  private readonly supervisor: Supervisor;
  private readonly log: Logger;
  private readonly write: (line: string) => void;
  private page: PageServer | undefined;
  private readonly ports = new Map<string, number>();
  private readonly pageGroups: string[] = [];
  private producer: Child | undefined;
  private demoFeed: DemoFeed | undefined;
  private demoChunk: DemoChunk | undefined;
  private demoFinished = false;
  private stopped: Promise<number> | undefined;
  private resolveDone!: (code: number) => void;
  readonly done = new Promise<number>((resolve) => (this.resolveDone = resolve));
  private streaming = false;

  constructor(
    private readonly config: Config,
    private readonly args: RunArgs,
    private readonly configEnv: Record<string, string>,
    formatter: LineFormatter,
  ) {
    this.write = (line) => process.stderr.write(line + '\n');
    this.log = createLogger({ level: config.logLevel, sink: { write: (l) => this.write(formatter.format('run', l.trimEnd(), 'stderr')) } });
    this.supervisor = new Supervisor({
      node: process.execPath, cli: cliScript(), formatter, write: this.write, stopTimeoutMs: STOP_TIMEOUT_MS,
      report: (level, msg, fields) => this.log[level](msg, fields),
      onFatal: (code, message) => {
        this.write(message);
        void this.stop(code);
      },
    });
  }

  get topicPrefix(): string {
    return this.config.topicPrefix;
  }

  async start(connection: Connection): Promise<void> {
    const { config, log } = this;
    // Topics first, so that the workers and the page find them whatever starts first.
    const kafka = kafkaClient(config, connection, log, { clientId: 'klinestream-run' });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, config, log);
    } finally {
      await admin.disconnect();
    }
    const env: NodeJS.ProcessEnv = {
      ...process.env, ...this.configEnv,
      KAFKA_BROKERS: connection.brokers.join(','), SCHEMA_REGISTRY_URL: connection.schemaRegistryUrl,
      KLINESTREAM_TOPIC_PREFIX: config.topicPrefix, KLINESTREAM_LOG_LEVEL: config.logLevel,
      // The demo plays market time faster than the clock, so its trade times run ahead of their records'
      // timestamps by design: the workers' plausibility bound for that (docs/times.md) is opened up.
      ...(this.args.demo ? { KLINESTREAM_RECORD_TIME_AHEAD_MS: String(366 * 24 * 3600_000) } : {}),
      // Credentials that came inside SCHEMA_REGISTRY_URL reach the children as the basic-auth settings.
      ...(config.security.registryUsername === undefined ? {} : { SCHEMA_REGISTRY_USERNAME: config.security.registryUsername, SCHEMA_REGISTRY_PASSWORD: config.security.registryPassword }),
    };
    for (const name of ['producer', ...Array.from({ length: this.args.workers }, (_, i) => `worker-${i + 1}`)]) this.ports.set(name, await freePort());
    const childEnv = (name: string): NodeJS.ProcessEnv => ({ ...env, KLINESTREAM_METRICS_PORT: String(this.ports.get(name)) });
    const fatalOnUsage = (name: string) => (info: ExitInfo): ExitDecision =>
      info.code === 2 ? { action: 'fatal', exitCode: 2, message: info.tail.filter((l) => !l.startsWith('{')).pop() ?? `${name} refused its configuration (exit 2)` } : { action: 'restart' };

    for (let i = 1; i <= this.args.workers; i++) {
      const name = `worker-${i}`;
      this.supervisor.start({ name, role: 'worker', args: ['work'], env: childEnv(name), onExit: fatalOnUsage(name) });
    }

    if (this.args.demo) {
      this.removeStaleDemoDirs();
      this.demoFeed = await DemoFeed.load(bundledDataDir(), Math.floor(Date.now() / 60_000) * 60_000);
      log.info('demo: replaying the bundled exchange recordings as one market, times shifted to now', {
        symbols: this.demoFeed.symbols.length, speed: this.args.speed === 'max' ? 'max' : `${this.args.speed}x`,
        recordings: this.demoFeed.recordings.map((r) => r.file),
      });
      this.startDemoChunk(0, childEnv('producer'));
    } else {
      const symbols = this.args.symbols === 'all' ? ['--all'] : ['--symbols', this.args.symbols.join(',')];
      this.producer = this.supervisor.start({
        name: 'producer', role: 'producer', args: ['produce', '--source', 'binance', ...symbols], env: childEnv('producer'),
        onLine: (l) => {
          if (!this.streaming && l.includes('"streaming"')) this.streaming = true;
        },
        onExit: (info) => {
          const text = info.tail.join('\n');
          if (!this.streaming && UNREACHABLE.test(text)) {
            return { action: 'fatal', exitCode: 1, message: unreachableSentence(config.exchangeRestUrl, 'the producer could not fetch the symbol list') };
          }
          return fatalOnUsage('producer')(info);
        },
      });
    }

    this.page!.followKlines(() => this.pageConsumerOptions(connection));
  }

  private startDemoChunk(index: number, env: NodeJS.ProcessEnv): void {
    const feed = this.demoFeed!;
    const until = this.args.demoMinutes === undefined ? Infinity : feed.anchor + this.args.demoMinutes * 60_000;
    const chunk = feed.writeChunk(this.demoDir(), index, DEMO_CHUNK_MS, until);
    if (chunk === undefined) {
      this.demoFinished = true;
      this.log.info('demo: replay finished (--demo-minutes reached); the page and workers keep running until Ctrl-C');
      return;
    }
    this.demoChunk = chunk;
    const speed = this.args.speed === 'max' ? 'max' : `${this.args.speed}x`;
    const previous = this.producer;
    if (previous !== undefined) this.supervisor.forget(previous);
    this.producer = this.supervisor.start({
      name: 'producer', role: 'producer', args: ['produce', '--source', `file:${chunk.file}`, '--speed', speed], env,
      onExit: (info) => {
        if (info.code === 0) {
          fs.rmSync(chunk.file, { force: true });
          if (!this.supervisor.stopping) setImmediate(() => this.startDemoChunk(index + 1, env));
          return { action: 'done' };
        }
        // Anything else: replay the chunk again (the producer resumes after what it wrote).
        return info.code === 2 ? { action: 'fatal', exitCode: 2, message: info.tail.filter((l) => !l.startsWith('{')).pop() ?? 'the demo producer refused its configuration' } : { action: 'restart' };
      },
    });
  }

  /** Where the demo's chunk files go: `<cacheDir>/run/demo/<pid>/`. */
  private demoDir(): string {
    return path.join(this.config.cacheDir, 'run', 'demo', String(process.pid));
  }

  /** Chunk folders of demos that were killed (their pid is gone) are removed at the next demo's start. */
  private removeStaleDemoDirs(): void {
    const root = path.join(this.config.cacheDir, 'run', 'demo');
    let names: string[] = [];
    try {
      names = fs.readdirSync(root);
    } catch {
      return;
    }
    for (const name of names) if (!/^\d+$/.test(name) || !isAlive(Number(name))) fs.rmSync(path.join(root, name), { recursive: true, force: true });
  }

  /** The page's KlineConsumer: the demo's fresh topics from the beginning; live, the last hour. */
  private async pageConsumerOptions(connection: Connection): Promise<KlineConsumerOptions> {
    const base = klineConsumerOptions(this.config, connection, { clientId: 'klinestream-page', maxWaitTimeInMs: 250 });
    if (this.args.demo) return { ...base, fromBeginning: true };
    const topic = topicNames(this.config.topicPrefix).klines;
    const groupId = `${this.config.topicPrefix}klinestream-page-${process.pid}-${randomBytes(4).toString('hex')}`;
    const admin = kafkaClient(this.config, connection, this.log, { clientId: 'klinestream-page' }).admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() - LIVE_HISTORY_MS);
      await admin.setOffsets({ groupId, topic, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.offset })) });
    } finally {
      await admin.disconnect();
    }
    this.pageGroups.push(groupId);
    return { ...base, groupId, fromBeginning: false };
  }

  targets(): MetricsTarget[] {
    return this.supervisor.children
      .filter((c) => c.state === 'running' || c.state === 'starting')
      .map((c) => ({ name: c.name, role: c.spec.role, url: `http://127.0.0.1:${this.ports.get(c.name)}/metrics`, ...(c.pid === undefined ? {} : { pid: c.pid }) }));
  }

  info(): Record<string, unknown> {
    const processes = this.supervisor.children.map((c) => ({ name: c.name, pid: c.pid, state: c.state, restarts: c.restarts }));
    return {
      mode: this.args.demo ? 'demo' : 'live', topicPrefix: this.config.topicPrefix, processes,
      ...(this.args.demo ? {
        demo: {
          chunk: this.demoChunk?.index, chunkFrom: this.demoChunk?.from, chunkTo: this.demoChunk?.to, finished: this.demoFinished,
          producerDone: this.demoFinished && (this.producer === undefined || this.producer.state === 'done'),
        },
      } : {}),
    };
  }

  attachPage(page: PageServer): void {
    this.page = page;
  }

  /** Stops everything once; resolves with the exit code. */
  stop(code: number): Promise<number> {
    if (this.stopped !== undefined) return this.stopped;
    this.stopped = (async () => {
      this.log.info('stopping: producer and workers write what they hold, then exit');
      await this.page?.close().catch(() => undefined);
      await this.supervisor.stopAll();
      if (this.args.demo) await this.cleanupDemo();
      this.resolveDone(code);
      return code;
    })();
    return this.stopped;
  }

  /** Force: a second Ctrl-C. */
  kill(): void {
    for (const c of this.supervisor.children) if (c.pid !== undefined && (c.state === 'running' || c.state === 'stopping')) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }

  private connection: Connection | undefined;

  setConnection(c: Connection): void {
    this.connection = c;
  }

  /** The demo's topics, groups and chunk files are its own: deleted when it stops. */
  private async cleanupDemo(): Promise<void> {
    fs.rmSync(this.demoDir(), { recursive: true, force: true });
    if (this.connection === undefined) return;
    const admin = kafkaClient(this.config, this.connection, this.log, { clientId: 'klinestream-run', retry: { retries: 2 } }).admin();
    try {
      await admin.connect();
      const names = topicSpecs(this.config).map((s) => s.name);
      const existing = new Set(await admin.listTopics());
      const topics = names.filter((t) => existing.has(t));
      if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 });
      // One by one: a group whose members left a moment ago may still count as not empty; it is retried.
      const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(this.config.topicPrefix));
      for (const g of groups) {
        for (let attempt = 0; attempt < 4; attempt++) {
          const ok = await admin.deleteGroups([g]).then(() => true, () => false);
          if (ok) break;
          await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
        }
      }
      this.log.info('demo: its topics were deleted', { topicPrefix: this.config.topicPrefix, topics: topics.length });
    } catch (e) {
      this.log.warn('demo: could not delete its topics', { topicPrefix: this.config.topicPrefix, error: e });
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  async deletePageGroups(): Promise<void> {
    if (this.pageGroups.length === 0 || this.connection === undefined || this.args.demo) return;
    const admin = kafkaClient(this.config, this.connection, this.log, { clientId: 'klinestream-page', retry: { retries: 1 } }).admin();
    try {
      await admin.connect();
      await admin.deleteGroups(this.pageGroups).catch(() => undefined);
    } catch {
      // best effort: an empty group without members expires by itself
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}

export const runCommand: Command = {
  name: 'run',
  usage: 'run [--demo] [--symbols A,B | --all] [--workers N]',
  summary: 'stack + producer + workers + live page (npm start; npm run demo)',
  async run(argv) {
    const args = parseCommandArgs('run', argv, {
      demo: { type: 'boolean' }, symbols: { type: 'string' }, all: { type: 'boolean' }, workers: { type: 'string' },
      speed: { type: 'string' }, 'demo-minutes': { type: 'string' },
    });
    if (args.values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const runArgs = parseRunArgs(args.values);
    const base = loadConfig(process.env, args.configFlags);
    const tty = process.stderr.isTTY === true;
    const formatter: LineFormatter = tty ? new HumanFormatter(8, process.env.NO_COLOR === undefined) : new JsonFormatter();

    if (!runArgs.demo) {
      const probe = await probeExchange(base);
      if (!probe.ok) {
        process.stderr.write(unreachableSentence(probe.url, probe.reason) + '\n');
        return 1;
      }
    }
    const config: Config = runArgs.demo ? { ...base, topicPrefix: `${base.topicPrefix}demo-${stamp()}.` } : base;
    const configEnv = flagsAsEnv(args.configFlags);
    const run = new Run(config, runArgs, configEnv, formatter);
    const log = createLogger({ level: config.logLevel, sink: { write: (l) => process.stderr.write(formatter.format('run', l.trimEnd(), 'stderr') + '\n') } });

    // The page's port first: a second `run` fails here, before touching anything.
    const registry = createRegistry('run');
    const page = new PageServer({
      port: config.httpPort, log, targets: () => run.targets(), info: () => run.info(), intervals: config.intervals, registry,
      allowedHosts: config.page.allowedHosts, maxClientBufferedBytes: config.page.clientBufferBytes, maxClients: config.page.maxClients,
    });
    try {
      await page.listen();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new KlinestreamError('CONFIG_INVALID', code === 'EADDRINUSE'
        ? `port ${config.httpPort} of the live page is in use (another klinestream run?); set KLINESTREAM_HTTP_PORT to another port`
        : `cannot listen on 127.0.0.1:${config.httpPort}: ${(e as Error).message}`, { port: config.httpPort }, { exitCode: 1 });
    }
    run.attachPage(page);

    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        log.info('stopping everything (Ctrl-C again to kill at once)', { signal });
        void run.stop(0);
      } else {
        run.kill();
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // The terminal closed: stop as on Ctrl-C (output to the gone terminal fails and is dropped).
    process.on('SIGHUP', onSignal);
    const ignore = () => undefined;
    process.stderr.on('error', ignore);
    const registration = registerProcess(config, { role: 'run', pageUrl: page.url, metricsUrl: `${page.url}metrics` });
    try {
      let connection: Connection;
      try {
        connection = await resolveConnection(config, log);
      } catch (e) {
        await page.close();
        throw e;
      }
      run.setConnection(connection);
      if (signals === 0) {
        await run.start(connection);
        const where = `klinestream is running${runArgs.demo ? ' the demo' : ''}: open ${page.url} (Ctrl-C stops everything)`;
        if (tty) process.stderr.write(`\n  \x1b[1m${where}\x1b[0m\n\n`);
        log.info(where, { url: page.url, topicPrefix: config.topicPrefix, mode: runArgs.demo ? 'demo' : 'live' });
      }
      const code = await run.done;
      await run.deletePageGroups();
      log.info('stopped', { exitCode: code });
      return code;
    } catch (e) {
      await run.stop(1);
      throw e;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onSignal);
      process.stderr.off('error', ignore);
      registration.remove();
    }
  },
};
