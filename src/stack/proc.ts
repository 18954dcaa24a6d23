/**
 * Process bookkeeping for the stack: pid files, liveness, and finding our JVMs by their command line.
 * Linux-first (reads /proc); where /proc is missing the checks fall back to signal 0, which is all POSIX offers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

// Liveness is shared with the process registry (observability); re-exported for the stack's users.
import { isAlive } from '../observability/process-liveness';

export { isAlive, processStartTime, processState, type ProcessState } from '../observability/process-liveness';

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
