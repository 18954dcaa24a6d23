import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');

it('a finished command exits with its code even when something left a handle open, and says what', async () => {
  // A stray listening socket opened before the command runs: without the grace, the process never exits.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-grace-'));
  const stray = path.join(dir, 'stray.js');
  fs.writeFileSync(stray, "require('node:net').createServer().listen(0, '127.0.0.1');\n");
  const started = Date.now();
  const child = spawn(process.execPath, ['-r', stray, path.join(root, 'dist/src/cli/main.js'), '--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(killer);
  fs.rmSync(dir, { recursive: true, force: true });
  expect({ code, stdout: stdout.trim().length > 0 }).toEqual({ code: 0, stdout: true });
  expect(stderr).toMatch(/still running 10 s after the command finished \(open: .*TCPServerWrap.*\); exiting with code 0/);
  expect(Date.now() - started).toBeGreaterThanOrEqual(9_000);
}, 40_000);
