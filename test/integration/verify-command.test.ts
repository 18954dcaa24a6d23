/**
 * `klinestream verify` end to end (issue 19 point 1): recorded USD-M BTCUSDT trades through the producer
 * (`produce --source file:`) and a worker (`work --until-caught-up`) into the klines topic of the real broker,
 * then `verify` as its own process against the exchange stand-in's REST klines:
 * - the exchange's own bundled klines of that day: every fully recorded minute matches (exit 0); over the
 *   whole recording, the first minute (which began before the recording) is the one mismatch and the last
 *   (never closed by a later trade, so not final in ours) the one kline only at the exchange (exit 1);
 * - a stand-in whose klines hold one trade it never sent: exactly that 1m kline and the 5m kline around it
 *   are reported, in count, volume and quote volume, everything else matches (exit 1).
 * One app prefix for the suite; its topics, subjects and groups are deleted afterwards.
 */
import * as path from 'node:path';
import { ExchangeStandin } from '../support/exchange-standin';
import { runCli } from './helpers';
import { appEnv, appPrefix, deleteApp, expectOk } from './pipeline-helpers';

jest.setTimeout(300_000);

const DIR = path.resolve(__dirname, '../../data/binance/btcusdt-usdm-2024-07-18');
const FRAMES = path.join(DIR, 'aggtrade-frames.jsonl.gz');
const BUNDLED = path.join(DIR, 'klines-1m.csv');
const MINUTE = 60_000;
/** Open times of the exchange's klines in klines-1m.csv: 23:57 (partial) ... 00:05 (last, unclosed). */
const FIRST_OPEN = 1721347020000;
const LAST_OPEN = 1721347500000;
/** 2024-07-19T00:01:00Z, the minute that gets the phantom trade, and the 5m kline around it. */
const PHANTOM_MINUTE = 1721347260000;
const PHANTOM_5M = 1721347200000;

interface JsonReport {
  ok: boolean;
  compared: number;
  matched: number;
  mismatches: Array<{ symbol: string; interval: string; openTime: number; field: string; ours: string; theirs: string }>;
  onlyExchange: Array<{ symbol: string; interval: string; openTime: number }>;
  onlyOurs: unknown[];
}

describe('verify against the exchange stand-in', () => {
  const prefix = appPrefix('verify');
  const env = appEnv(prefix, { KLINESTREAM_PARTITIONS: '2', KLINESTREAM_INTERVALS: '1m,5m', KLINESTREAM_MARKET: 'usdm' });
  const standins: ExchangeStandin[] = [];

  async function standin(options: Partial<Parameters<typeof ExchangeStandin.start>[0]>): Promise<ExchangeStandin> {
    const ex = await ExchangeStandin.start({ files: [FRAMES], speed: 'max', ...options });
    standins.push(ex);
    ex.play();
    await ex.finished;
    return ex;
  }

  const verify = (ex: ExchangeStandin, args: string[]) => runCli(['verify', '--symbol', 'BTCUSDT', ...args], { ...env, KLINESTREAM_EXCHANGE_REST_URL: ex.restBaseUrl });

  beforeAll(async () => {
    const produced = await expectOk(runCli(['produce', '--source', `file:${FRAMES}`], env), 'produce');
    expect(produced.stderr).toMatch(/produce: \d+ trades written/);
    await expectOk(runCli(['work', '--until-caught-up'], env), 'work --until-caught-up');
  });

  afterAll(async () => {
    await Promise.all(standins.map((s) => s.close()));
    await deleteApp(prefix);
  });

  it('the exchange\'s own klines of the recorded day: every fully recorded minute matches, exit 0', async () => {
    const ex = await standin({ bundledKlines: [{ path: BUNDLED, symbol: 'BTCUSDT', interval: '1m' }] });
    const r = await verify(ex, ['--interval', '1m', '--from', String(FIRST_OPEN + MINUTE), '--to', String(LAST_OPEN)]);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: expect.stringMatching(/^verify: all match; 1 symbol\/interval series, 7 klines compared, 7 match, 0 mismatched/) });
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    // Within the exchange's weight limit, and paying the endpoint's weight.
    const calls = ex.requests().filter((q) => q.endpoint === 'klines');
    expect(calls.map((c) => [c.status, c.weight, c.query.symbol, c.query.interval])).toEqual([[200, 5, 'BTCUSDT', '1m']]);

    // The whole recording: the partial first minute differs, the unclosed last one is only at the exchange.
    const all = await verify(ex, ['--interval', '1m', '--from', String(FIRST_OPEN), '--to', String(LAST_OPEN + MINUTE), '--format', 'json']);
    expect(all.code).toBe(1);
    const report = JSON.parse(all.stdout) as JsonReport;
    expect(report.ok).toBe(false);
    expect([...new Set(report.mismatches.map((m) => m.openTime))]).toEqual([FIRST_OPEN]);
    expect(report.mismatches.map((m) => m.field)).toContain('tradeCount');
    expect(report.onlyExchange).toEqual([{ symbol: 'BTCUSDT', interval: '1m', openTime: LAST_OPEN }]);
    expect(report.onlyOurs).toEqual([]);
    expect(report.matched).toBe(7);
  });

  it('a stand-in with one trade more than it sent: exactly that kline (1m, and the 5m around it) and its fields, exit 1', async () => {
    const timelineStart = (await standin({})).timelineInfo.start;
    const ex = await standin({ trouble: { disagreeKlines: { symbol: 'BTCUSDT', atOffsetMs: PHANTOM_MINUTE + 10_000 - timelineStart } } });
    const r = await verify(ex, ['--interval', '1m,5m', '--from', String(FIRST_OPEN), '--to', String(LAST_OPEN)]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    const problems = lines.slice(0, -1).map((l) => l.split(': ours')[0]);
    expect(problems).toEqual([
      `mismatch BTCUSDT 1m 2024-07-19T00:01:00.000Z (${PHANTOM_MINUTE}) volume`,
      `mismatch BTCUSDT 1m 2024-07-19T00:01:00.000Z (${PHANTOM_MINUTE}) quoteVolume`,
      `mismatch BTCUSDT 1m 2024-07-19T00:01:00.000Z (${PHANTOM_MINUTE}) tradeCount`,
      `mismatch BTCUSDT 5m 2024-07-19T00:00:00.000Z (${PHANTOM_5M}) volume`,
      `mismatch BTCUSDT 5m 2024-07-19T00:00:00.000Z (${PHANTOM_5M}) quoteVolume`,
      `mismatch BTCUSDT 5m 2024-07-19T00:00:00.000Z (${PHANTOM_5M}) tradeCount`,
    ]);
    // ours one trade short: theirs = ours + 1.
    const count = /tradeCount: ours (\d+), theirs (\d+)/.exec(lines[2]!)!;
    expect(Number(count[2])).toBe(Number(count[1]) + 1);
    expect(lines[lines.length - 1]).toMatch(/^verify: DIFFERENCES; 2 symbol\/interval series, 9 klines compared, 7 match, 2 mismatched \(6 fields\); 0 only at the exchange, 0 only ours/);
  });
});
