/**
 * Issue 16, "a clean first run": `npm run demo` on a fresh machine (no stack yet, nothing configured) starts
 * the embedded stack itself, then producer, workers and page. In its first minute nothing it prints may be
 * at error level: an error line means something a person must look at, and a fresh broker's retriable
 * start-up answers are not that. The demo runs on a PRIVATE fresh stack (own cache dir and ports, sharing
 * only the downloaded jars), started by the demo itself as on a first run, and everything every process of
 * the run writes (its own lines and its children's, as `run` surfaces them) is watched for 60 s.
 */
import * as fs from 'node:fs';
import { freePort } from '../../src/cli/run-command';
import { loadConfig, type Config } from '../../src/config/config';
import { createLogger } from '../../src/observability/log';
import { findProcesses } from '../../src/stack/proc';
import { stackDown } from '../../src/stack/stack';
import { privateStackEnv, uniqueName } from './helpers';
import { getJson, poll, processesMentioning, startRun, type PageStatus, type RunProcess } from './run-helpers';

const embedded = process.env.KLINESTREAM_TEST_STACK === 'embedded';
const whenEmbedded = embedded ? it : it.skip;

/** The observation window: the first minute after `run --demo` is started. */
const WINDOW_MS = 60_000;
/** SIGTERM to exit: children get 20 s (run's STOP_TIMEOUT_MS) before SIGKILL, then the demo deletes its topics. */
const EXIT_TIMEOUT_MS = 40_000;

/** Resolves after `ms`, or earlier when `p` settles; says which. */
function within<T>(p: Promise<T>, ms: number): Promise<{ done: true; value: T } | { done: false }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ done: false }>((resolve) => (timer = setTimeout(() => resolve({ done: false }), ms)));
  return Promise.race([p.then((value) => ({ done: true as const, value })), timeout]).finally(() => clearTimeout(timer));
}

/** Lines at error level: JSON records with level "error", and any other line that says so. */
function errorLines(output: string): string[] {
  return output.split('\n').filter((l) => {
    if (l === '') return false;
    try {
      return (JSON.parse(l) as { level?: unknown }).level === 'error';
    } catch {
      return l.includes('"level":"error"');
    }
  });
}

describe('npm run demo on a fresh stack', () => {
  let dir: string | undefined;
  let env: NodeJS.ProcessEnv;
  let config: Config;
  let run: RunProcess | undefined;
  const log = createLogger({ level: 'error' });

  beforeAll(async () => {
    if (!embedded) return;
    ({ dir, env } = await privateStackEnv('klinestream-demo-first-'));
    config = loadConfig(env);
  });

  afterAll(async () => {
    if (!embedded || dir === undefined) return;
    // Whatever happened in the test: no run, child or JVM of this private stack left behind.
    if (run !== undefined && run.exitCode() === undefined) {
      run.child.kill('SIGKILL');
      await run.exited;
    }
    // The whole output, for a look at what the run printed: KLINESTREAM_TEST_CLI_LOG=<file>.
    if (run !== undefined && process.env.KLINESTREAM_TEST_CLI_LOG) fs.appendFileSync(process.env.KLINESTREAM_TEST_CLI_LOG, run.output());
    await stackDown(config, log).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const jvms = () => findProcesses([`-Dklinestream.stack.home=${dir!}`]);

  whenEmbedded('starts its own stack, shows klines within a minute and prints no error-level line meanwhile', async () => {
    expect(jvms()).toEqual([]);
    const prefix = `${uniqueName('demo-first')}.`;
    const port = await freePort();
    const started = Date.now();
    // As `npm run demo` on a fresh machine: default speed, workers and partitions, info-level logs.
    run = startRun(['--demo'], { ...env, KLINESTREAM_TOPIC_PREFIX: prefix, KLINESTREAM_HTTP_PORT: String(port), KLINESTREAM_LOG_LEVEL: 'info' });
    const current = run;
    const exitedEarly = current.exited.then((code) => {
      throw new Error(`run --demo exited (code ${String(code)}) ${((Date.now() - started) / 1000).toFixed(1)} s after its start:\n${current.output()}`);
    });

    // (a) the demo works: klines reach its page within the window.
    const page = `http://127.0.0.1:${port}`;
    const klines = poll(async () => {
      const s = await getJson<PageStatus>(`${page}/api/status`);
      return s.klinesReceived > 0 ? s : undefined;
    }, 'klines on the demo page', WINDOW_MS - (Date.now() - started));
    const st = await Promise.race([klines, exitedEarly]);
    const klinesAfterMs = Date.now() - started;
    expect(st.info.mode).toBe('demo');

    // The rest of the minute is watched as well (the window is the condition, not a pause for something).
    await within(exitedEarly, WINDOW_MS - (Date.now() - started));
    const firstMinute = current.output();
    process.stderr.write(`demo-first-minute: klines on the page ${(klinesAfterMs / 1000).toFixed(1)} s after the start; ${firstMinute.split('\n').filter((l) => l !== '').length} lines in the first minute\n`);

    // (b) not one error-level line in that minute.
    const errors = errorLines(firstMinute);
    expect({ errorLines: errors.length, lines: errors }).toEqual({ errorLines: 0, lines: [] });

    // It stops on SIGTERM, and no process of it is left.
    exitedEarly.catch(() => undefined);
    current.child.kill('SIGTERM');
    const exit = await within(current.exited, EXIT_TIMEOUT_MS);
    expect(exit).toEqual({ done: true, value: 0 });
    // The demo started the stack and left it running, as every command does. Its two JVMs were started
    // from the run's environment (so they carry the prefix too); nothing else of the run is left.
    const stack = jvms();
    expect(stack.length).toBe(2);
    expect(processesMentioning(prefix).filter((pid) => !stack.includes(pid))).toEqual([]);
    await stackDown(config, log);
    expect(jvms()).toEqual([]);
    expect(processesMentioning(prefix)).toEqual([]);
  }, WINDOW_MS + EXIT_TIMEOUT_MS + 30_000);
});
