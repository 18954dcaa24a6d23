/**
 * The producer as users run it: `node dist/src/cli/main.js produce ...` in a child process of its own (so
 * `kill -9` is real), pointed at an exchange stand-in and at the test brokers, with a unique topic prefix.
 *
 * - Logs: the producer runs at log level info (JSON lines on stderr); `logs()` parses them, `waitForLog`
 *   polls for one. The /metrics URL comes from its "metrics listening" line (KLINESTREAM_METRICS_PORT=0).
 * - Memory: `rssBytes()` reads VmRSS from /proc/<pid>/status; `sampleRss()` keeps the peak while it runs.
 * - Every process started here is tracked: `stopAllProducers()` (afterEach/afterAll) SIGKILLs whatever is
 *   still running and `runningProducers()` says whether any is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { builtCli } from '../helpers';

export interface ExchangeUrls {
  wsBaseUrl: string;
  restBaseUrl: string;
}

/** The environment of one producer: the test brokers (or `extra` ones), the stand-in, a prefix, any metrics port. */
export function producerEnv(prefix: string, exchange: ExchangeUrls, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KLINESTREAM_TOPIC_PREFIX: prefix,
    KLINESTREAM_METRICS_PORT: '0',
    KLINESTREAM_LOG_LEVEL: 'info',
    KLINESTREAM_EXCHANGE_WS_URL: exchange.wsBaseUrl,
    KLINESTREAM_EXCHANGE_REST_URL: exchange.restBaseUrl,
    ...extra,
  };
}

export interface LogLine {
  time: string;
  level: string;
  msg: string;
  [k: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const all = new Set<ProducerProcess>();

export class ProducerProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  stdout = '';
  stderr = '';
  exit: Exit | undefined;
  peakRss = 0;
  private sampler: NodeJS.Timeout | undefined;

  private constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [builtCli(), 'produce', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        this.stopSampling();
        // Debugging aid: PRODUCER_TEST_DUMP=/tmp/x keeps every producer's stderr as /tmp/x-<pid>.stderr.
        const dump = process.env.PRODUCER_TEST_DUMP;
        if (dump) fs.writeFileSync(`${dump}-${this.child.pid}.stderr`, this.stderr);
        all.delete(this);
        resolve(this.exit);
      });
    });
    all.add(this);
  }

  /** Starts `klinestream produce <args>`; returns at once. */
  static start(args: string[], env: NodeJS.ProcessEnv): ProducerProcess {
    return new ProducerProcess(args, env);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** The JSON log lines written so far (other stderr lines, e.g. the final summary, are left out). */
  logs(): LogLine[] {
    const out: LogLine[] = [];
    for (const line of this.stderr.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as LogLine);
      } catch {
        // a line still being written
      }
    }
    return out;
  }

  /** Polls the log for a line with this message (and, optionally, matching `where`). */
  async waitForLog(msg: string, timeoutMs = 30_000, where: (l: LogLine) => boolean = () => true): Promise<LogLine> {
    let found: LogLine | undefined;
    try {
      await pollUntil(`producer log "${msg}"`, () => {
        found = this.logs().find((l) => l.msg === msg && where(l));
        if (found === undefined && !this.running) throw new Error(`the producer exited (${JSON.stringify(this.exit)}) before logging "${msg}":\n${this.stderrTail()}`);
        return found !== undefined;
      }, timeoutMs);
    } catch (e) {
      if (e instanceof Error && !e.message.includes(this.stderrTail(200))) e.message += `\nthe producer's stderr so far:\n${this.stderrTail()}`;
      throw e;
    }
    return found!;
  }

  /** "producer ready" and "streaming" (live) were logged: topics, schemas, checkpoints and the stream pool are set up. */
  async ready(timeoutMs = 120_000): Promise<void> {
    await this.waitForLog('producer ready', timeoutMs);
  }

  async metricsUrl(): Promise<string> {
    return (await this.waitForLog('metrics listening')).url as string;
  }

  /** One scrape of its /metrics. */
  async metrics(): Promise<Metrics> {
    const res = await fetch(await this.metricsUrl());
    return new Metrics(await res.text());
  }

  /** Resident set size now (bytes), from /proc; 0 when the process is gone. */
  rssBytes(): number {
    try {
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m === null ? 0 : Number(m[1]) * 1024;
    } catch {
      return 0;
    }
  }

  /** Samples the RSS every `everyMs` into `peakRss` until the process exits or stopSampling(). */
  sampleRss(everyMs = 100): void {
    this.stopSampling();
    this.sampler = setInterval(() => {
      this.peakRss = Math.max(this.peakRss, this.rssBytes());
    }, everyMs);
  }

  stopSampling(): void {
    if (this.sampler !== undefined) clearInterval(this.sampler);
    this.sampler = undefined;
  }

  /** kill -9. */
  async kill9(): Promise<Exit> {
    if (this.running) this.child.kill('SIGKILL');
    return this.exited;
  }

  /** SIGTERM (the producer writes what is buffered and exits 0) and its exit. */
  async stop(timeoutMs = 60_000): Promise<Exit> {
    if (this.running) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  stderrTail(chars = 6000): string {
    return this.stderr.slice(-chars);
  }
}

/** SIGKILLs every producer started here that still runs and waits for them. */
export async function stopAllProducers(): Promise<void> {
  const left = [...all];
  for (const p of left) if (p.running) p.child.kill('SIGKILL');
  await Promise.all(left.map((p) => p.exited));
}

export function runningProducers(): number[] {
  return [...all].filter((p) => p.running).map((p) => p.pid);
}

/** Polls `check` until it is true; fails after `timeoutMs` naming `what`. A check may throw to fail at once. */
export async function pollUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A Prometheus text exposition, parsed: `value('name', { label: 'x' })`, `sum('name')`. */
export class Metrics {
  readonly samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];

  constructor(readonly text: string) {
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (m === null) continue;
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
      this.samples.push({ name: m[1]!, labels, value: Number(m[3]) });
    }
  }

  /** The value of the first sample of `name` whose labels include `labels`; 0 when there is none. */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.sum(name, labels);
  }

  /** The sum over every sample of `name` whose labels include `labels`. */
  sum(name: string, labels: Record<string, string> = {}): number {
    let total = 0;
    for (const s of this.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
    return total;
  }

  /** Label values of `label` over the samples of `name` with a value above 0. */
  labelsOf(name: string, label: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.samples) if (s.name === name && s.value > 0 && s.labels[label] !== undefined) out[s.labels[label]!] = (out[s.labels[label]!] ?? 0) + s.value;
    return out;
  }
}
