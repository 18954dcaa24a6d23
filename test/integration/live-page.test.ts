/**
 * The live page in a real browser (Debian's Chromium, headless, driven by playwright-core): a short demo
 * replay, the page opened on BTCUSDT 1m. The live candle updates while trades come in; once the replay is
 * over, the candles the chart holds (count, and the last one's values) are those of the `klines` topic
 * (latest version per open time, read with `klinestream klines`). With KLINESTREAM_SCREENSHOT=FILE the
 * test saves a screenshot of the page there (that is how docs/screenshot.png is made).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { Kline } from '../../src/codec/records';
import { freePort } from '../../src/cli/run-command';
import { expectSuccess, runCli, testKafka, uniqueName } from './helpers';
import { getJson, poll, startRun, type PageStatus, type RunProcess } from './run-helpers';

jest.setTimeout(240_000);

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

type PageKline = Kline;
interface Candle { time: number; open: number; high: number; low: number; close: number }
interface ChartState { current: { symbol: string; interval: string }; updates: number; klines: PageKline[]; candles: Candle[]; legend: string; markers: number }

async function chartState(page: Page): Promise<ChartState> {
  return page.evaluate(() => {
    const w = (globalThis as unknown as { klinestream: { current: { symbol: string; interval: string }; updates: number; klines(): PageKline[]; candleData(): Candle[] } }).klinestream;
    const doc = (globalThis as unknown as { document: { getElementById(id: string): { textContent: string | null } | null; querySelectorAll(s: string): { length: number } } }).document;
    return { current: w.current, updates: w.updates, klines: w.klines(), candles: w.candleData(), legend: doc.getElementById('legend')?.textContent ?? '', markers: 0 };
  });
}

function latestPerOpenTime(jsonLines: string): Kline[] {
  const m = new Map<number, Kline>();
  for (const l of jsonLines.split('\n')) {
    if (l === '') continue;
    const k = JSON.parse(l) as Kline;
    if ((m.get(k.openTime)?.version ?? -1) < k.version) m.set(k.openTime, k);
  }
  return [...m.values()].sort((a, b) => a.openTime - b.openTime);
}

describe('the live page in Chromium', () => {
  let run: RunProcess | undefined;
  let context: BrowserContext | undefined;
  let userDataDir: string;
  let topicPrefix = '';

  beforeAll(() => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-chromium-'));
  });

  afterAll(async () => {
    await context?.close();
    if (run !== undefined && run.exitCode() === undefined) {
      run.child.kill('SIGTERM');
      await run.exited;
    }
    fs.rmSync(userDataDir, { recursive: true, force: true });
    if (topicPrefix !== '') {
      const admin = testKafka(uniqueName('live-page-admin')).admin();
      await admin.connect();
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(topicPrefix));
      if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it('shows the candles of the klines topic, and the live candle updates', async () => {
    const prefix = `${uniqueName('page')}.`;
    const port = await freePort();
    run = startRun(['--demo', '--speed', '10x', '--demo-minutes', '4'], {
      ...process.env, KLINESTREAM_TOPIC_PREFIX: prefix, KLINESTREAM_HTTP_PORT: String(port), KLINESTREAM_PARTITIONS: '2', KLINESTREAM_INTERVALS: '1m,5m,1h',
    });
    const base = `http://127.0.0.1:${port}`;
    const first = await poll(async () => getJson<PageStatus>(`${base}/api/status`), 'the page', 90_000);
    topicPrefix = first.info.topicPrefix;

    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1400, height: 800 } });
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/?symbol=BTCUSDT&interval=1m`);

    // The live candle: its values change while the replay runs (a new version of it, or a new one).
    const before = await poll(async () => {
      const s = await chartState(page);
      return s.klines.length > 0 && !s.klines[s.klines.length - 1]!.isFinal ? s : undefined;
    }, 'a live BTCUSDT candle in the chart', 90_000, 100);
    expect(before.current).toEqual({ symbol: 'BTCUSDT', interval: '1m' });
    const lastBefore = before.klines[before.klines.length - 1]!;
    await poll(async () => {
      const s = await chartState(page);
      const last = s.klines[s.klines.length - 1]!;
      return last.openTime > lastBefore.openTime || last.version > lastBefore.version ? true : undefined;
    }, 'the live candle to update', 60_000, 100);
    expect(await page.locator('#symbol option').count()).toBeGreaterThan(5);
    expect(await page.locator('#legend').textContent()).toMatch(/BTCUSDT 1m (live|final) O [\d.]+ H/);

    // After the replay: the chart equals the topic.
    await poll(async () => ((await getJson<PageStatus>(`${base}/api/status`)).info.demo?.producerDone ? true : undefined), 'the end of the demo replay', 120_000);
    let expected: Kline[] = [];
    await poll(async () => {
      const r = await runCli(['klines', '--symbol', 'BTCUSDT', '--interval', '1m', '--from-beginning', '--exit-at-end', '--format', 'json'], { ...process.env, KLINESTREAM_TOPIC_PREFIX: topicPrefix });
      expectSuccess(r);
      expected = latestPerOpenTime(r.stdout);
      const s = await chartState(page);
      return expected.length > 0 && JSON.stringify(s.klines) === JSON.stringify(expected) ? true : undefined;
    }, 'the chart to hold exactly the klines of the topic', 60_000, 1000);
    const s = await chartState(page);
    expect(s.klines.length).toBe(expected.length);
    // 4 minutes of market time: 4 or 5 one-minute candles (the start of the demo is aligned to a minute).
    expect(expected.length).toBeGreaterThanOrEqual(4);
    expect(s.candles).toHaveLength(expected.length);
    const last = expected[expected.length - 1]!;
    expect(s.candles[s.candles.length - 1]).toMatchObject({ time: last.openTime / 1000, open: last.open, high: last.high, low: last.low, close: last.close });
    expect(s.klines[s.klines.length - 1]).toEqual(last);
    // Final candles are solid, the live one is drawn apart (its own colours) and marked.
    expect(s.candles.filter((c) => 'color' in c).length).toBe(expected.filter((k) => !k.isFinal).length);
    expect(await page.locator('#figures').textContent()).toMatch(/trades written/);
    if (process.env.KLINESTREAM_SCREENSHOT) await page.screenshot({ path: process.env.KLINESTREAM_SCREENSHOT });
    expect(errors).toEqual([]);

    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });
});
