/**
 * Restarts and a second producer, in one run of the stand-in (real BTCUSDT and 2021 USD-M frames at 12x, a
 * few connection cuts): producer A is killed with `kill -9` mid-stream; B starts on the same topics while
 * the stand-in holds every REST aggTrades answer for a while, so B's backfill of the downtime waits; later
 * a third producer C starts on the same topics while B runs, and B must stop (exit 1, naming C). At the end
 * the `trades` topic holds exactly the exchange's trades (nothing missing, nothing doubled, no interleaving
 * of two writers), and the watermarks kept their promise: an idle partition got them all along, none passed
 * a trade that was still to be written, and while B's backfill waited, no watermark on that partition went
 * beyond the last trade written of the waiting symbol.
 */
import type { ExchangeStandin, StandinTrade, TimelineFile } from '../support/exchange-standin';
import { appPrefix, deleteApp } from './pipeline-helpers';
import { ProducerProcess, pollUntil, producerEnv, runningProducers, stopAllProducers, type Exit } from './support/producer-process';
import { closeStandins, DATA_FILES, startStandin, waitForConnections } from './support/standin-setup';
import { checkTrades, checkWatermarkShape, endOffsets, readContent, waitForCheckpoints, type TopicContent } from './support/trades-topic';
import { watermarkViolations, watermarksFrom } from './support/watermarks';

jest.setTimeout(180_000);

const prefix = appPrefix('producer-restart');
const FILES: TimelineFile[] = [{ path: DATA_FILES.btc2024Aug }, { path: DATA_FILES.usdm5 }];
const SYMBOLS = ['BTCUSDT', 'SANDUSDT', 'CTKUSDT', 'BATUSDT', 'NEOUSDT', 'CHRUSDT'];
const PARTITIONS = 8;
const SPEED = 12;

let ex: ExchangeStandin;
let expected: Map<string, readonly StandinTrade[]>;
let content: TopicContent;
let afterKill: number[];
let heldFor: { requests: number; eventTimeMs: number; idleWatermarks: number };
let exitB: Exit;
let b: ProducerProcess;
let cInstance: string;

beforeAll(async () => {
  ex = await startStandin({
    files: FILES,
    speed: SPEED,
    seed: 3,
    trouble: {
      cutConnections: { at: [{ offsetMs: 40_000 }, { offsetMs: 150_000, mode: 'clean' }, { offsetMs: 280_000 }] },
      duplicateFrames: { fraction: 0.005 },
    },
  });
  expected = ex.expectedRecords();
  const start = ex.timelineInfo.start;
  const env = producerEnv(prefix, ex, { KLINESTREAM_PARTITIONS: String(PARTITIONS) });
  const args = ['--source', 'binance', '--symbols', SYMBOLS.join(',')];

  const a = ProducerProcess.start(args, env);
  await a.ready();
  await waitForConnections(ex, 1);
  ex.play();

  // kill -9 mid-stream.
  await pollUntil('a quarter of the timeline', () => ex.serverTime() >= start + 90_000, 60_000);
  expect(await a.kill9()).toEqual({ code: null, signal: 'SIGKILL' });
  afterKill = await endOffsets(`${prefix}trades`);

  // B starts while REST keeps every aggTrades answer waiting: its backfill of the downtime cannot end yet.
  ex.holdRest(['aggTrades']);
  b = ProducerProcess.start(args, env);
  await b.ready();
  const heldFrom = ex.serverTime();
  await pollUntil('B to ask REST for the downtime', () => ex.restHeld.waiting >= 1, 30_000);
  // Held for a measurable stretch: the exchange moved on by 20 s of event time and an idle partition got
  // watermarks for it meanwhile.
  const idle = PARTITIONS - 1;
  await pollUntil('20 s of event time and watermarks on an idle partition while REST is held', async () => {
    const ends = await endOffsets(`${prefix}trades`);
    return ex.serverTime() - heldFrom >= 20_000 && ends[idle]! - afterKill[idle]! >= 20;
  }, 60_000, 100);
  const ends = await endOffsets(`${prefix}trades`);
  heldFor = { requests: ex.restHeld.waiting, eventTimeMs: ex.serverTime() - heldFrom, idleWatermarks: ends[idle]! - afterKill[idle]! };
  ex.releaseRest();

  // A second producer on the same topics while B runs: B is fenced and stops.
  await pollUntil('two thirds of the timeline', () => ex.serverTime() >= start + 230_000, 60_000);
  const c = ProducerProcess.start(args, env);
  await c.ready();
  cInstance = (await c.waitForLog('producer ready')).instance as string;
  await pollUntil('B to stop once C took over', () => !b.running, 45_000).catch(() => undefined);
  exitB = b.exit ?? { code: -1, signal: null };

  await ex.finished;
  const caughtUp = await waitForCheckpoints(prefix, expected, 60_000);
  expect(await c.stop()).toEqual({ code: 0, signal: null });
  if (!caughtUp) process.stderr.write(`the last producer did not commit every trade within 60 s:\n${c.stderrTail()}\n`);
  content = await readContent(prefix);
  if (process.env.PRODUCER_TEST_DUMP) {
    const fs = await import('node:fs');
    fs.writeFileSync(`${process.env.PRODUCER_TEST_DUMP}-restart.json`, JSON.stringify({ afterKill, trades: content.trades, heldFor }));
  }
});

afterAll(async () => {
  await stopAllProducers();
  await closeStandins();
  await deleteApp(prefix);
  expect(runningProducers()).toEqual([]);
});

it('kill -9 mid-stream and a restart: every trade once, in order, with the exchange values', () => {
  expect({ problems: checkTrades(content, expected), afterKill }).toEqual({ problems: [], afterKill });
  expect(checkWatermarkShape(content)).toEqual([]);
  // The restart backfilled the downtime from REST (event time = trade time for those trades).
  const btc = content.bySymbol.get('BTCUSDT')!;
  const p = btc[0]!.partition;
  const fromB = btc.filter((t) => t.offset >= afterKill[p]!);
  expect(fromB.length).toBeGreaterThan(0);
  expect(fromB[0]!.eventTime).toBe(fromB[0]!.tradeTime);
});

it('a second producer on the same topics stops the first (exit 1, naming the other), and the two never interleave', () => {
  expect(exitB.code).toBe(1);
  expect(b.stderr).toContain('another producer took over the topics');
  expect(b.stderr).toContain(cInstance);
  // Still exactly the exchange's trades (checked in full above): no id twice, none out of order.
  for (const [s, list] of content.bySymbol) {
    for (let i = 1; i < list.length; i++) if (list[i]!.aggId <= list[i - 1]!.aggId) throw new Error(`${s}: ${list[i]!.aggId} after ${list[i - 1]!.aggId}`);
  }
});

it('watermarks: idle partitions get them, none passes a trade still to be written, none passes a waiting gap', () => {
  const placed = new Set([...content.symbols.byName.values()].map((e) => e.partition));
  const idle = [...Array(PARTITIONS).keys()].filter((p) => !placed.has(p));
  expect(idle.length).toBeGreaterThanOrEqual(2);
  for (const p of idle) {
    expect(content.trades[p]!.every((r) => r.kind === 'WATERMARK')).toBe(true);
    // Live, a watermark goes out on every 250 ms tick of wall time (250 ms of event time at the exchange's
    // 1x): the ~28 s of wall time this 12x timeline takes, less the kill's downtime, give about a hundred.
    expect(content.watermarks[p]!.length).toBeGreaterThan(60);
  }
  expect(heldFor.requests).toBeGreaterThanOrEqual(1);
  expect(heldFor.eventTimeMs).toBeGreaterThanOrEqual(20_000);
  expect(heldFor.idleWatermarks).toBeGreaterThanOrEqual(20);

  // No watermark passes a trade written after it (in exchange event time).
  expect(watermarkViolations(content, expected)).toEqual([]);

  // While B waited for REST, every watermark B wrote on a waiting symbol's partition stayed at or below the
  // last trade of that symbol written before the kill.
  let checked = 0;
  for (const [s, list] of content.bySymbol) {
    const p = list[0]!.partition;
    const before = list.filter((t) => t.offset < afterKill[p]!);
    const after = list.filter((t) => t.offset >= afterKill[p]!);
    if (before.length === 0 || after.length === 0) continue;
    // Only symbols whose downtime came back through the (held) REST backfill: their first trade after the
    // kill carries T as its event time, the exchange's E differs.
    const first = expected.get(s)!.find((t) => t.aggId === after[0]!.aggId)!;
    if (!(after[0]!.eventTime === after[0]!.tradeTime && first.eventTime !== first.tradeTime)) continue;
    const lastWritten = before[before.length - 1]!.tradeTime;
    const waiting = watermarksFrom(content, p, afterKill[p]!).filter((w) => w.offset < after[0]!.offset);
    for (const w of waiting) {
      if (w.tradeTime > lastWritten) throw new Error(`${s} on ${p}: watermark ${w.tradeTime} at ${w.offset} passes its last trade ${lastWritten} while its backfill waits`);
    }
    checked += waiting.length;
  }
  expect(checked).toBeGreaterThanOrEqual(1);
});
