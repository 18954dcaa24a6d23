/**
 * Process bookkeeping for the stack: pid files, liveness, and finding our JVMs by their command line.
 * Linux-first (reads /proc); where /proc is missing the checks fall back to signal 0, which is all POSIX offers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type ProcessState = 'running' | 'zombie' | 'gone';

/**
 * A zombie (exited, not yet reaped by its parent) still answers signal 0, so signal 0 alone would call a
 * dead broker alive; /proc/<pid>/stat says which it is.
 */
export function processState(pid: number): ProcessState {
  if (!Number.isInteger(pid) || pid <= 0) return 'gone';
  const stat = readProcStat(pid);
  if (stat !== undefined) return stat.state === 'Z' || stat.state === 'X' ? 'zombie' : 'running';
  if (fs.existsSync('/proc/self/stat')) return 'gone';
  try {
    process.kill(pid, 0);
    return 'running';
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? 'running' : 'gone';
  }
}

export function isAlive(pid: number): boolean {
  return processState(pid) === 'running';
}

interface ProcStat {
  state: string;
  /** Start time in clock ticks since boot: with the pid, it names one process even after pid reuse. */
  startTime: string;
}

function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  const state = fields[0];
  const startTime = fields[19];
  if (state === undefined || startTime === undefined) return undefined;
  return { state, startTime };
}

export function processStartTime(pid: number): string | undefined {
  return readProcStat(pid)?.startTime;
}

export function processCommandLine(pid: number): string[] | undefined {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((s) => s.length > 0);
  } catch {
    return undefined;
  }
}

/** Every live pid whose command line contains all of `needles` (empty where /proc is unavailable). */
export function findProcesses(needles: string[]): number[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const argv = processCommandLine(pid);
    if (argv === undefined) continue;
    if (needles.every((n) => argv.includes(n)) && isAlive(pid)) found.push(pid);
  }
  return found;
}

export function readPidFile(file: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^\s*(\d+)\s*$/.exec(text);
  return m ? Number(m[1]) : undefined;
}

export function writePidFile(file: string, pid: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // Write then rename, so a reader never sees a half-written pid.
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${pid}\n`);
  fs.renameSync(tmp, file);
}

export function removeFile(file: string): void {
  fs.rmSync(file, { force: true });
}

export type PidFileState =
  | { kind: 'none' }
  | { kind: 'stale'; pid: number | undefined }
  | { kind: 'alive'; pid: number };

/**
 * Reads a service's pid file. A pid whose process is gone, or is now some other program (the pid was
 * reused after a reboot or a long time), is stale: `isOurs` decides the latter from the command line.
 */
export function inspectPidFile(file: string, isOurs: (pid: number) => boolean): PidFileState {
  if (!fs.existsSync(file)) return { kind: 'none' };
  const pid = readPidFile(file);
  if (pid === undefined) return { kind: 'stale', pid: undefined };
  if (!isAlive(pid) || !isOurs(pid)) return { kind: 'stale', pid };
  return { kind: 'alive', pid };
}

/** Sends a signal to a whole process group; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}

export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `pid` is no longer running or `timeoutMs` passes; true when it is gone. */
export async function waitForExit(pid: number, timeoutMs: number, pollMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isAlive(pid)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(pollMs);
  }
}
