import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspectPidFile, isAlive, processState, readPidFile, waitForExit, writePidFile } from '../../src/stack/proc';

/** A pid that certainly belongs to no process any more: a child that has exited and been reaped. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  expect(r.pid).toBeGreaterThan(0);
  return r.pid!;
}

describe('process liveness', () => {
  it('sees this process as running and an exited child as gone', () => {
    expect(processState(process.pid)).toBe('running');
    expect(processState(deadPid())).toBe('gone');
    expect(isAlive(0)).toBe(false);
    expect(isAlive(-1)).toBe(false);
  });

  it('calls a zombie dead, although signal 0 still reaches it', async () => {
    // sh starts a short-lived child, then execs into sleep, which never reaps it: the child becomes a zombie.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const zombie = Number((await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString())))).trim());
      const deadline = Date.now() + 5000;
      while (processState(zombie) === 'running' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(processState(zombie)).toBe('zombie');
      expect(() => process.kill(zombie, 0)).not.toThrow();
      expect(isAlive(zombie)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('waitForExit returns true once the process ends and false on timeout', async () => {
    const child = spawn('sleep', ['5']);
    expect(await waitForExit(child.pid!, 200, 20)).toBe(false);
    child.kill('SIGTERM');
    expect(await waitForExit(child.pid!, 5000, 20)).toBe(true);
  });
});

describe('pid files', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-pid-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reports none when there is no pid file', () => {
    expect(inspectPidFile(path.join(dir, 'kafka.pid'), () => true)).toEqual({ kind: 'none' });
  });

  it('reports a pid file whose process is gone as stale (a run killed with -9)', () => {
    const file = path.join(dir, 'kafka.pid');
    const pid = deadPid();
    writePidFile(file, pid);
    expect(readPidFile(file)).toBe(pid);
    expect(inspectPidFile(file, () => true)).toEqual({ kind: 'stale', pid });
  });

  it('reports a live pid that is some other program (pid reused) as stale', () => {
    const file = path.join(dir, 'kafka.pid');
    writePidFile(file, process.pid);
    expect(inspectPidFile(file, () => false)).toEqual({ kind: 'stale', pid: process.pid });
    expect(inspectPidFile(file, (pid) => pid === process.pid)).toEqual({ kind: 'alive', pid: process.pid });
  });

  it('reports an unreadable pid file as stale', () => {
    const file = path.join(dir, 'kafka.pid');
    fs.writeFileSync(file, 'not a pid\n');
    expect(inspectPidFile(file, () => true)).toEqual({ kind: 'stale', pid: undefined });
  });

  it('writes atomically (no temporary file left behind)', () => {
    const file = path.join(dir, 'nested', 'registry.pid');
    writePidFile(file, 4242);
    expect(fs.readFileSync(file, 'utf8')).toBe('4242\n');
    expect(fs.readdirSync(path.dirname(file))).toEqual(['registry.pid']);
  });
});
