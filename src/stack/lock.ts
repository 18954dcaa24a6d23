/**
 * A cross-process lock file: created with O_EXCL (only one creator wins), holding the owner's pid and
 * process start time. A lock whose owner is gone (killed run, crash) is stale and is broken by the next
 * caller, so a `kill -9` never wedges the stack. Two concurrent `stack up` calls (two jest runs, two
 * clones sharing one cache dir) therefore serialize instead of starting two brokers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KlinestreamError } from '../errors';
import { isAlive, processStartTime, sleep } from './proc';

export interface LockHandle {
  readonly file: string;
  release(): void;
}

export interface LockOptions {
  /** How long to wait for another holder before giving up. */
  timeoutMs: number;
  pollMs?: number;
  /** Called once, when the lock is found held by someone else. */
  onWait?: (holderPid: number | undefined) => void;
}

interface Owner {
  pid: number;
  startTime: string | undefined;
}

function ownerRecord(): string {
  return JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid) ?? null }) + '\n';
}

function readOwner(file: string): Owner | undefined | 'missing' {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw e;
  }
  try {
    const parsed = JSON.parse(text) as { pid?: unknown; startTime?: unknown };
    if (typeof parsed.pid !== 'number') return undefined;
    return { pid: parsed.pid, startTime: typeof parsed.startTime === 'string' ? parsed.startTime : undefined };
  } catch {
    return undefined;
  }
}

/** An owner is stale when its process is gone, or the pid now belongs to a process started at another time. */
export function isStaleOwner(owner: Owner): boolean {
  if (!isAlive(owner.pid)) return true;
  if (owner.startTime === undefined) return false;
  const now = processStartTime(owner.pid);
  return now !== undefined && now !== owner.startTime;
}

/** A lock file with no readable owner older than this was left by a writer that died between create and write. */
const UNREADABLE_GRACE_MS = 10_000;

function ageMs(file: string): number {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function tryCreate(file: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    fs.writeSync(fd, ownerRecord());
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/**
 * Removes `file` if it is still held by a stale owner. Breaking is itself guarded by a second O_EXCL file:
 * without it two waiters could both judge the lock stale, one removes it and takes a fresh lock, and the
 * other then removes that fresh lock.
 */
function breakIfStale(file: string): void {
  const breaker = `${file}.break`;
  if (!tryCreate(breaker)) {
    // The break section lasts microseconds; a breaker file this old was left by a process that died in it.
    if (ageMs(breaker) > UNREADABLE_GRACE_MS) fs.rmSync(breaker, { force: true });
    return;
  }
  try {
    const owner = readOwner(file);
    if (owner === 'missing') return;
    const stale = owner === undefined ? ageMs(file) > UNREADABLE_GRACE_MS : isStaleOwner(owner);
    if (stale) fs.rmSync(file, { force: true });
  } finally {
    fs.rmSync(breaker, { force: true });
  }
}

/** Waits for and takes the lock. Not re-entrant: one holder per process and file. */
export async function acquireLock(file: string, options: LockOptions): Promise<LockHandle> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const deadline = Date.now() + options.timeoutMs;
  let told = false;
  for (;;) {
    if (tryCreate(file)) return handle(file);
    breakIfStale(file);
    if (tryCreate(file)) return handle(file);
    const owner = readOwner(file);
    const holder = owner === 'missing' || owner === undefined ? undefined : owner.pid;
    if (holder === process.pid) {
      throw new KlinestreamError('STACK_START_FAILED', `lock ${file} is already held by this process`, { file });
    }
    if (!told) {
      told = true;
      options.onWait?.(holder);
    }
    if (Date.now() >= deadline) {
      throw new KlinestreamError(
        'STACK_LOCK_TIMEOUT',
        `timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${file} (held by pid ${holder ?? 'unknown'}); ` +
          'if no klinestream process is running, delete that file',
        { file, holder },
      );
    }
    await sleep(options.pollMs ?? 200);
  }
}

function handle(file: string): LockHandle {
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      // Only remove the file if it is still ours (it may have been broken as stale and retaken meanwhile).
      const owner = readOwner(file);
      if (owner !== 'missing' && owner !== undefined && owner.pid === process.pid) fs.rmSync(file, { force: true });
    },
  };
}

export async function withLock<T>(file: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(file, options);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
