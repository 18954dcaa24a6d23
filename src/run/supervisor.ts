/**
 * The process tree of `klinestream run`: the CLI's own commands as child processes (`node main.js produce
 * ...`, `node main.js work`), their output prefixed with their name, a restart with backoff when one dies
 * unexpectedly, and a stop that leaves nothing behind: SIGTERM to every child, SIGKILL after a timeout.
 * Children also stop by themselves when this process disappears (./child-guard.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { LineSplitter, type LineFormatter } from './log-format';

export type ChildState = 'starting' | 'running' | 'backoff' | 'stopping' | 'stopped' | 'done' | 'failed';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** How long it ran. */
  ranMs: number;
  /** Its last output lines (stderr and stdout), for diagnosis. */
  tail: string[];
}

/** What to do after a child exited: restart it (with backoff), leave it stopped, or stop the whole tree. */
export type ExitDecision = { action: 'restart' } | { action: 'done' } | { action: 'fatal'; exitCode: number; message: string };

export interface ChildSpec {
  name: string;
  role: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Default: restart on any exit (a long-running command should never end by itself). */
  onExit?: (info: ExitInfo) => ExitDecision;
  /** Called for every output line before it is printed. */
  onLine?: (line: string) => void;
}

export interface SupervisorOptions {
  /** node's path and the CLI script. */
  node: string;
  cli: string;
  formatter: LineFormatter;
  write: (line: string) => void;
  /** The run's own messages (restarts, stops). */
  report: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** Fatal exits end up here (the run then stops everything). */
  onFatal: (exitCode: number, message: string) => void;
  stopTimeoutMs?: number;
  /** First restart delay; doubled per restart up to maxBackoffMs; reset after a minute of running. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

const TAIL_LINES = 40;
const STABLE_MS = 60_000;

export class Child {
  state: ChildState = 'starting';
  pid: number | undefined;
  restarts = 0;
  lastExit: { code: number | null; signal: NodeJS.Signals | null; at: number } | undefined;
  private proc: ChildProcess | undefined;
  private startedAt = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly tail: string[] = [];
  private exited: Promise<void> = Promise.resolve();

  constructor(readonly spec: ChildSpec, private readonly sup: Supervisor) {}

  get name(): string {
    return this.spec.name;
  }

  start(): void {
    const o = this.sup.options;
    const guard = path.join(__dirname, 'child-guard.js');
    this.state = 'starting';
    this.startedAt = Date.now();
    this.tail.length = 0;
    const proc = spawn(o.node, ['--require', guard, o.cli, ...this.spec.args], { env: this.spec.env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.proc = proc;
    this.pid = proc.pid;
    const line = (stream: 'stdout' | 'stderr') => (l: string) => {
      if (l === '') return;
      this.tail.push(l);
      if (this.tail.length > TAIL_LINES) this.tail.shift();
      this.spec.onLine?.(l);
      o.write(o.formatter.format(this.spec.name, l, stream));
    };
    const out = new LineSplitter(line('stdout'));
    const err = new LineSplitter(line('stderr'));
    proc.stdout!.on('data', (d: Buffer) => out.push(d));
    proc.stderr!.on('data', (d: Buffer) => err.push(d));
    this.exited = new Promise<void>((resolve) => {
      proc.on('error', (e) => {
        o.report('error', `${this.spec.name} could not be started`, { error: e.message });
      });
      proc.on('close', (code, signal) => {
        out.end();
        err.end();
        this.proc = undefined;
        this.lastExit = { code, signal, at: Date.now() };
        resolve();
        this.afterExit(code, signal);
      });
    });
    this.state = 'running';
  }

  private afterExit(code: number | null, signal: NodeJS.Signals | null): void {
    const o = this.sup.options;
    if (this.sup.stopping || this.state === 'stopping') {
      this.state = 'stopped';
      return;
    }
    const ranMs = Date.now() - this.startedAt;
    const decision = (this.spec.onExit ?? (() => ({ action: 'restart' }) as ExitDecision))({ code, signal, ranMs, tail: [...this.tail] });
    if (decision.action === 'done') {
      this.state = 'done';
      return;
    }
    if (decision.action === 'fatal') {
      this.state = 'failed';
      o.onFatal(decision.exitCode, decision.message);
      return;
    }
    if (ranMs >= STABLE_MS) this.failures = 0;
    this.failures++;
    this.restarts++;
    const delay = Math.min((o.backoffMs ?? 1000) * 2 ** (this.failures - 1), o.maxBackoffMs ?? 30_000);
    o.report('warn', `${this.spec.name} exited unexpectedly (${signal ?? `code ${code}`}) after ${(ranMs / 1000).toFixed(1)} s; restarting in ${(delay / 1000).toFixed(0)} s`, {
      restart: this.restarts,
    });
    this.state = 'backoff';
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.sup.stopping) this.start();
    }, delay);
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves once the process is gone. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const proc = this.proc;
    if (proc === undefined) {
      if (this.state !== 'done' && this.state !== 'failed') this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    proc.kill('SIGTERM');
    const killer = setTimeout(() => {
      this.sup.options.report('warn', `${this.spec.name} did not stop within ${timeoutMs / 1000} s; killing it`);
      proc.kill('SIGKILL');
    }, timeoutMs);
    await this.exited;
    clearTimeout(killer);
  }

  /** For a child that is expected to end by itself (a demo chunk): resolves when it has. */
  waitExit(): Promise<void> {
    return this.exited;
  }
}

export class Supervisor {
  readonly children: Child[] = [];
  stopping = false;

  constructor(readonly options: SupervisorOptions) {}

  start(spec: ChildSpec): Child {
    const c = new Child(spec, this);
    this.children.push(c);
    c.start();
    return c;
  }

  /** Removes a finished child from the list (a demo chunk producer replaced by the next). */
  forget(child: Child): void {
    const i = this.children.indexOf(child);
    if (i >= 0) this.children.splice(i, 1);
  }

  /** Stops every child at once (the producer and workers each write what they hold). */
  async stopAll(): Promise<void> {
    this.stopping = true;
    const timeout = this.options.stopTimeoutMs ?? 20_000;
    await Promise.all(this.children.map((c) => c.stop(timeout)));
  }
}
