/**
 * Whether a process is alive, and which one a pid names (its start time), from /proc (signal 0 where /proc
 * is missing). Here, beside the process registry that needs it, so that observability does not load the
 * embedded stack; src/stack/proc.ts re-exports it with the stack's other process bookkeeping.
 */
import * as fs from 'node:fs';

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
