import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { transformFileSync } from '@swc/core';
import { isKlinestreamError } from '../../src/errors';
import { acquireLock, isStaleOwner } from '../../src/stack/lock';
import { processStartTime } from '../../src/stack/proc';

const ROOT = path.resolve(__dirname, '..', '..');

describe('lock file', () => {
  let dir: string;
  let lockFile: string;
  const sleepers: Array<ReturnType<typeof spawn>> = [];
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-lock-'));
    lockFile = path.join(dir, 'run', 'stack.lock');
  });
  afterEach(() => {
    for (const s of sleepers.splice(0)) s.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A live process other than us, to stand for another holder of the lock. */
  function otherHolder(): number {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    sleepers.push(child);
    fs.mkdirSync(path.dirname(lockFile), { recursive: true });
    fs.writeFileSync(lockFile, JSON.stringify({ pid: child.pid, startTime: processStartTime(child.pid!) ?? null }));
    return child.pid!;
  }

  it('is taken by creating the file with our pid and released by removing it', async () => {
    const lock = await acquireLock(lockFile, { timeoutMs: 1000 });
    expect(JSON.parse(fs.readFileSync(lockFile, 'utf8')).pid).toBe(process.pid);
    lock.release();
    expect(fs.existsSync(lockFile)).toBe(false);
  });

  it('waits for a live holder and times out with a message naming the file and the holder', async () => {
    const holder = otherHolder();
    const waited: Array<number | undefined> = [];
    const started = Date.now();
    const err = await acquireLock(lockFile, { timeoutMs: 400, pollMs: 50, onWait: (pid) => waited.push(pid) }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(isKlinestreamError(err) && err.code).toBe('STACK_LOCK_TIMEOUT');
    expect((err as Error).message).toContain(lockFile);
    expect((err as Error).message).toContain(String(holder));
    expect(waited).toEqual([holder]);
    // The holder's lock is untouched.
    expect(JSON.parse(fs.readFileSync(lockFile, 'utf8')).pid).toBe(holder);
  });

  it('is acquired as soon as the holder releases it', async () => {
    otherHolder();
    setTimeout(() => fs.rmSync(lockFile), 300);
    const started = Date.now();
    const lock = await acquireLock(lockFile, { timeoutMs: 5000, pollMs: 50 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    lock.release();
  });

  it('breaks a stale lock whose holder was killed', async () => {
    const holder = otherHolder();
    sleepers[0]!.kill('SIGKILL');
    await new Promise((r) => sleepers[0]!.once('exit', r));
    expect(isStaleOwner({ pid: holder, startTime: undefined })).toBe(true);
    const lock = await acquireLock(lockFile, { timeoutMs: 1000, pollMs: 50 });
    expect(JSON.parse(fs.readFileSync(lockFile, 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it('breaks a lock whose pid now belongs to a process started at another time (pid reuse)', async () => {
    fs.mkdirSync(path.dirname(lockFile), { recursive: true });
    fs.writeFileSync(lockFile, JSON.stringify({ pid: process.pid, startTime: '1' }));
    expect(isStaleOwner({ pid: process.pid, startTime: '1' })).toBe(true);
    const lock = await acquireLock(lockFile, { timeoutMs: 1000 });
    expect(JSON.parse(fs.readFileSync(lockFile, 'utf8')).startTime).toBe(processStartTime(process.pid));
    lock.release();
  });

  it('refuses to be taken twice by the same process (not re-entrant) rather than deadlock', async () => {
    const lock = await acquireLock(lockFile, { timeoutMs: 1000 });
    await expect(acquireLock(lockFile, { timeoutMs: 1000 })).rejects.toThrow(/already held by this process/);
    lock.release();
  });

  it('release does not remove a lock that another process took meanwhile', async () => {
    const lock = await acquireLock(lockFile, { timeoutMs: 1000 });
    fs.rmSync(lockFile);
    const holder = otherHolder();
    lock.release();
    expect(JSON.parse(fs.readFileSync(lockFile, 'utf8')).pid).toBe(holder);
  });

  it('gives mutual exclusion between processes racing for it, including over a stale lock', async () => {
    // Compile the real modules for plain node children (jest's transform only applies in this process).
    const out = path.join(dir, 'build');
    for (const rel of ['src/errors.ts', 'src/stack/lock.ts', 'src/stack/proc.ts', 'src/observability/process-liveness.ts']) {
      const { code } = transformFileSync(path.join(ROOT, rel), { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } });
      const target = path.join(out, rel.replace(/\.ts$/, '.js'));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, code);
    }
    // Start from a stale lock so the racers also race to break it.
    const dead = spawn('sleep', ['0']);
    await new Promise((r) => dead.once('exit', r));
    fs.mkdirSync(path.dirname(lockFile), { recursive: true });
    fs.writeFileSync(lockFile, JSON.stringify({ pid: dead.pid, startTime: null }));

    const journal = path.join(dir, 'journal');
    const script = `
      const fs = require('fs');
      const { acquireLock } = require(${JSON.stringify(path.join(out, 'src/stack/lock.js'))});
      (async () => {
        for (let i = 0; i < 5; i++) {
          const lock = await acquireLock(${JSON.stringify(lockFile)}, { timeoutMs: 60000, pollMs: 5 });
          fs.appendFileSync(${JSON.stringify(journal)}, 'in ' + process.pid + '\\n');
          await new Promise((r) => setTimeout(r, 10));
          fs.appendFileSync(${JSON.stringify(journal)}, 'out ' + process.pid + '\\n');
          lock.release();
        }
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const racers = Array.from({ length: 4 }, () => spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'inherit'] }));
    const codes = await Promise.all(racers.map((c) => new Promise<number | null>((r) => c.once('exit', r))));
    expect(codes).toEqual([0, 0, 0, 0]);

    const lines = fs.readFileSync(journal, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(4 * 5 * 2);
    // Every "in" is immediately followed by the same process's "out": no two holders at once.
    for (let i = 0; i < lines.length; i += 2) {
      const [kindIn, pidIn] = lines[i]!.split(' ');
      const [kindOut, pidOut] = lines[i + 1]!.split(' ');
      expect([kindIn, kindOut]).toEqual(['in', 'out']);
      expect(pidOut).toBe(pidIn);
    }
    expect(fs.existsSync(lockFile)).toBe(false);
  }, 60_000);
});
