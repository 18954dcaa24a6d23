/**
 * `klinestream run` and `run --demo` as users start them (the built CLI): they start the whole tree, serve
 * the page, register with `klinestream status`, stop cleanly on SIGTERM leaving no process behind, and the
 * children stop by themselves when `run` is killed outright. Live mode runs against the exchange stand-in
 * (real recorded frames on a local WebSocket + REST); an exchange that cannot be reached gives one plain
 * sentence pointing to the demo, exit 1.
 */
import * as path from 'node:path';
import { freePort } from '../../src/cli/run-command';
import { startStandinProcess, type StandinProcess } from '../support/exchange-standin';
import { expectSuccess, runCli, testKafka, uniqueName } from './helpers';
import { alive, childrenOf, getJson, poll, processesMentioning, startRun, type PageStatus } from './run-helpers';

jest.setTimeout(240_000);

const ROOT = path.resolve(__dirname, '../..');
const FRAMES = path.join(ROOT, 'data', 'binance', 'btcusdt-usdm-2024-07-18', 'aggtrade-frames.jsonl.gz');

async function topicsWithPrefix(prefix: string): Promise<string[]> {
  const admin = testKafka(uniqueName('run-test-admin')).admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  } finally {
    await admin.disconnect();
  }
}

async function deleteWithPrefix(prefix: string): Promise<void> {
  const admin = testKafka(uniqueName('run-test-admin')).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 });
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

describe('klinestream run', () => {
  const prefixes: string[] = [];
  afterAll(async () => {
    for (const p of prefixes) await deleteWithPrefix(p);
  });

  it('without a reachable exchange: one plain sentence pointing to the demo, exit 1, nothing started', async () => {
    const closed = await freePort();
    const prefix = `${uniqueName('run-offline')}.`;
    const started = Date.now();
    const r = await runCli(['run'], {
      ...process.env, KLINESTREAM_TOPIC_PREFIX: prefix, KLINESTREAM_HTTP_PORT: String(await freePort()),
      KLINESTREAM_EXCHANGE_REST_URL: `http://127.0.0.1:${closed}`, KLINESTREAM_EXCHANGE_WS_URL: `ws://127.0.0.1:${closed}`,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^klinestream run: the exchange at http:\/\/127\.0\.0\.1:\d+ cannot be reached \(ECONNREFUSED\), .*; run the offline demo instead: npm run demo$/);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await topicsWithPrefix(prefix)).toEqual([]);
  });

  describe('live, against the exchange stand-in', () => {
    let standin: StandinProcess;
    beforeAll(async () => {
      // 30 minutes back: at 4x the stand-in's clock must not run ahead of the producer's (docs/times.md).
      standin = await startStandinProcess(['--file', FRAMES, '--speed', '4', '--shift-to', String(Date.now() - 30 * 60_000), '--market', 'usdm', '--play-on', 'first-subscription'], { dist: true });
    });
    afterAll(async () => {
      await standin?.stop();
    });

    it('starts producer, two workers and the page; status shows them; SIGTERM stops all of it', async () => {
      const prefix = `${uniqueName('run-live')}.`;
      prefixes.push(prefix);
      const port = await freePort();
      const env = {
        ...process.env, KLINESTREAM_TOPIC_PREFIX: prefix, KLINESTREAM_HTTP_PORT: String(port), KLINESTREAM_PARTITIONS: '2',
        KLINESTREAM_EXCHANGE_REST_URL: standin.info.restBaseUrl, KLINESTREAM_EXCHANGE_WS_URL: standin.info.wsBaseUrl,
      };
      const run = startRun(['--symbols', 'BTCUSDT'], env);
      try {
        const page = `http://127.0.0.1:${port}`;
        await poll(async () => ((await getJson<Array<{ symbol: string }>>(`${page}/api/series`)).some((s) => s.symbol === 'BTCUSDT') ? true : undefined), 'BTCUSDT klines on the page', 90_000);
        const st = await poll(async () => {
          const s = await getJson<PageStatus>(`${page}/api/status`);
          return s.status !== null && s.status.tradesTotal > 0 && s.status.appliedTotal > 0 ? s : undefined;
        }, 'trades in the status panel', 60_000);
        expect(st.info.mode).toBe('live');
        expect(st.info.processes.map((p) => [p.name, p.state])).toEqual([['worker-1', 'running'], ['worker-2', 'running'], ['producer', 'running']]);
        // Not JSON on a pipe: every line is one JSON object naming its process.
        const lines = run.output().split('\n').filter((l) => l !== '');
        for (const l of lines) expect(JSON.parse(l)).toHaveProperty('proc');
        expect(lines.some((l) => l.includes('"proc":"worker-2"'))).toBe(true);

        // Every process registers once its metrics server is up.
        const status = await poll(async () => {
          const r = await runCli(['status'], { ...process.env, KLINESTREAM_TOPIC_PREFIX: prefix });
          return r.code === 0 && (r.stdout.match(/worker +pid \d+/g) ?? []).length === 2 ? r : undefined;
        }, 'status to show both workers', 30_000, 500).catch((e: Error) => {
          throw new Error(`${e.message}\n${run.output().split('\n').filter((l) => /"level":"(warn|error)"|exited/.test(l)).slice(-20).join('\n')}`);
        });
        expectSuccess(status);
        expect(status.stdout).toMatch(/producer +pid \d+/);
        expect(status.stdout.match(/worker +pid \d+/g)).toHaveLength(2);
        expect(status.stdout).toMatch(/run +pid \d+ .*page http:\/\/127\.0\.0\.1:\d+\//);
        expect(status.stdout).toMatch(/rates +[\d.]+ trades\/s produced/);
        expect(status.stdout).toContain(`${prefix}trades  2 partitions`);
        expect(status.stdout).toContain('total lag of the worker group');

        // A child that dies is reported and restarted with backoff.
        const worker1 = st.info.processes.find((p) => p.name === 'worker-1')!;
        process.kill(worker1.pid!, 'SIGKILL');
        const restarted = await poll(async () => {
          const w = (await getJson<PageStatus>(`${page}/api/status`)).info.processes.find((p) => p.name === 'worker-1')!;
          return w.restarts === 1 && w.state === 'running' && w.pid !== worker1.pid ? w : undefined;
        }, 'worker-1 to be restarted', 30_000);
        expect(alive(restarted.pid!)).toBe(true);
        expect(run.output()).toMatch(/"msg":"worker-1 exited unexpectedly \(SIGKILL\) after [\d.]+ s; restarting in 1 s"/);

        const pids = childrenOf(run.child.pid!);
        expect(pids.length).toBe(3);
        run.child.kill('SIGTERM');
        expect(await run.exited).toBe(0);
        for (const pid of pids) expect(alive(pid)).toBe(false);
        expect(processesMentioning(prefix)).toEqual([]);
        const after = await runCli(['status', '--json'], { ...process.env, KLINESTREAM_TOPIC_PREFIX: prefix });
        expect((JSON.parse(after.stdout) as { processes: unknown[] }).processes).toEqual([]);
      } finally {
        if (run.exitCode() === undefined) run.child.kill('SIGKILL');
      }
    });
  });

  describe('--demo', () => {
    it('starts, shows candles forming, and SIGTERM stops it cleanly and deletes its topics', async () => {
      const prefix = `${uniqueName('run-demo')}.`;
      prefixes.push(prefix);
      const port = await freePort();
      const run = startRun(['--demo', '--speed', '20x'], { ...process.env, KLINESTREAM_TOPIC_PREFIX: prefix, KLINESTREAM_HTTP_PORT: String(port), KLINESTREAM_PARTITIONS: '2' });
      try {
        const page = `http://127.0.0.1:${port}`;
        const st = await poll(async () => {
          const s = await getJson<PageStatus>(`${page}/api/status`);
          return s.klinesReceived > 0 ? s : undefined;
        }, 'klines on the demo page', 90_000);
        expect(st.info.mode).toBe('demo');
        expect(st.info.topicPrefix).toMatch(new RegExp(`^${prefix.replace(/\./g, '\\.')}demo-\\d{8}-\\d{6}\\.$`));
        // Candles keep forming: the BTCUSDT 1m series grows.
        const count = async () => (await getJson<unknown[]>(`${page}/api/klines?symbol=BTCUSDT&interval=1m`)).length;
        const first = await poll(async () => ((await count()) >= 1 ? count() : undefined), 'a BTCUSDT candle');
        await poll(async () => ((await count()) > first ? true : undefined), 'a new BTCUSDT candle', 60_000);
        expect((await topicsWithPrefix(st.info.topicPrefix)).length).toBe(6);
        const pids = childrenOf(run.child.pid!);
        run.child.kill('SIGTERM');
        expect(await run.exited).toBe(0);
        for (const pid of pids) expect(alive(pid)).toBe(false);
        expect(processesMentioning(prefix)).toEqual([]);
        expect(await topicsWithPrefix(st.info.topicPrefix)).toEqual([]);
        expect(run.output()).toContain('demo: its topics were deleted');
        const admin = testKafka(uniqueName('run-test-admin')).admin();
        await admin.connect();
        const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(st.info.topicPrefix));
        await admin.disconnect();
        expect(groups).toEqual([]);
      } finally {
        if (run.exitCode() === undefined) run.child.kill('SIGKILL');
      }
    });

    it('killed outright (SIGKILL), its children stop by themselves: no process left behind', async () => {
      const prefix = `${uniqueName('run-kill')}.`;
      prefixes.push(prefix);
      const port = await freePort();
      const run = startRun(['--demo', '--speed', '5x'], { ...process.env, KLINESTREAM_TOPIC_PREFIX: prefix, KLINESTREAM_HTTP_PORT: String(port), KLINESTREAM_PARTITIONS: '2' });
      try {
        await poll(async () => ((await getJson<PageStatus>(`http://127.0.0.1:${port}/api/status`)).klinesReceived > 0 ? true : undefined), 'klines on the page', 90_000);
        const pids = childrenOf(run.child.pid!);
        expect(pids.length).toBe(3);
        run.child.kill('SIGKILL');
        await run.exited;
        await poll(() => (pids.every((p) => !alive(p)) ? true : undefined), 'the orphaned children to stop', 40_000);
        expect(processesMentioning(prefix)).toEqual([]);
      } finally {
        if (run.exitCode() === undefined) run.child.kill('SIGKILL');
      }
    });
  });
});
