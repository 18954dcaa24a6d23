/**
 * Helpers for the tests of `klinestream run`: start it as users do (the built CLI, its own process), read
 * its output as it comes, poll its page's JSON API, and see which processes it left (from /proc).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { builtCli } from './helpers';

export interface RunProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  exitCode(): number | null | undefined;
}

export function startRun(args: string[], env: NodeJS.ProcessEnv): RunProcess {
  const child = spawn(process.execPath, [builtCli(), 'run', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let code: number | null | undefined;
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (c) => {
    code = c;
    resolve(c);
  }));
  return { child, output: () => out, exited, exitCode: () => code };
}

/** Polls `check` until it returns a value (not undefined); fails after `timeoutMs` naming `what`. */
export async function poll<T>(check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : ` (last error: ${String(last)})`}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

export interface PageStatus {
  status: { tradesTotal: number; appliedTotal: number; processes: Array<{ name: string; up: boolean }> } | null;
  info: { mode: string; topicPrefix: string; processes: Array<{ name: string; pid?: number; state: string; restarts: number }>; demo?: { finished: boolean; producerDone: boolean } };
  klinesReceived: number;
}

/** Whether a process is alive (not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The pids whose parent is `pid` (from /proc). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Processes whose command line mentions `needle` (like `pgrep -f`, for our own unique markers only). */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const env = fs.readFileSync(`/proc/${name}/environ`, 'utf8');
      if ((cmd.includes(needle) || env.includes(needle)) && alive(Number(name))) out.push(Number(name));
    } catch {
      // gone, or not ours
    }
  }
  return out;
}
