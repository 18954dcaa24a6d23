/**
 * The producer (`klinestream produce --source binance --all`, the built CLI in its own process) against the
 * exchange stand-in serving real recorded USD-M frames of 15 symbols on one shared timeline at 7x, with
 * every kind of scripted trouble at once: connections cut at random moments (abrupt and clean), frames pushed
 * twice, frames never pushed (REST has them), a WebSocket blackout of one symbol, garbage lines (including
 * frames over the WebSocket size limit), a symbol listed mid-stream that `--all` must pick up, and 429
 * answers. Afterwards the `trades` topic holds exactly the exchange's trades per symbol, each once, in id
 * order, on the partition its SymbolEntry names, with the exchange's values; the producer's /metrics
 * account for the trouble. Then the file source: the same frames through `produce --source file:` give the
 * same trades, and a second run of the file adds nothing.
 */
import * as fs from 'node:fs';
import { GARBAGE_KINDS, SAMPLE_EXTRA_SYMBOLS, type ExchangeStandin, type StandinTrade, type TimelineFile } from '../support/exchange-standin';
import { runCli } from './helpers';
import { appPrefix, deleteApp } from './pipeline-helpers';
import { Metrics, ProducerProcess, pollUntil, producerEnv, runningProducers, stopAllProducers } from './support/producer-process';
import { closeStandins, DATA_FILES, middleIds, startStandin, totalTrades, waitForConnections, writeFramesFile } from './support/standin-setup';
import { checkTrades, checkWatermarkShape, readContent, type TopicContent } from './support/trades-topic';

jest.setTimeout(240_000);

const prefix = appPrefix('producer-trouble');
const filePrefix = appPrefix('producer-file');
const tmpDirs: string[] = [];

const FILES: TimelineFile[] = [
  { path: DATA_FILES.usdm5 },
  { path: DATA_FILES.usdmDent4 },
  // CTKUSDT is in two recordings months apart: the second copy trades under its own name.
  { path: DATA_FILES.usdmSushi4, renameSymbols: { CTKUSDT: 'CTK2USDT' } },
  { path: DATA_FILES.btc2024Jul },
  { path: DATA_FILES.btc2023, renameSymbols: { BTCUSDT: 'BTC23USDT' } },
];
const LISTED_LATER = 'BTC23USDT';
const SPEED = 6.5;

let ex: ExchangeStandin;
let expected: Map<string, readonly StandinTrade[]>;
let content: TopicContent;
let metrics: Metrics;
let producer: ProducerProcess;
let withheld: number[];

beforeAll(async () => {
  // Frames to withhold: one in the middle of every symbol's list (a later live frame reveals each hole).
  const probe = await startStandin({ files: FILES, speed: 'manual' });
  withheld = middleIds(probe, probe.timelineInfo.symbols.filter((s) => s !== LISTED_LATER));
  await probe.close();

  ex = await startStandin({
    files: FILES,
    speed: SPEED,
    seed: 7,
    // Not in `--all`: a delivery contract and a settling perpetual.
    symbols: [...SAMPLE_EXTRA_SYMBOLS.usdm],
    trouble: {
      cutConnections: { randomPerMinute: 0.7, target: 'one', at: [{ offsetMs: 150_000, target: 'all', mode: 'clean' }, { offsetMs: 330_000, target: 'all' }] },
      duplicateFrames: { fraction: 0.01 },
      withholdFrames: { aggIds: withheld, blackouts: [{ fromOffsetMs: 200_000, toOffsetMs: 203_000, symbols: ['BTCUSDT'] }] },
      garbageLines: { kinds: [...GARBAGE_KINDS], count: 2 * GARBAGE_KINDS.length },
      listMidStream: [{ symbol: LISTED_LATER, offsetMs: 60_000 }],
      restFailures: { first: 2, fraction: 0.05, kinds: ['rate-limit'], endpoints: ['aggTrades', 'exchangeInfo'], retryAfterSeconds: 1 },
    },
  });
  expected = ex.expectedRecords();
  const env = producerEnv(prefix, ex, {
    KLINESTREAM_PARTITIONS: '6',
    KLINESTREAM_EXCHANGE_STREAMS_PER_CONNECTION: '5',
    KLINESTREAM_EXCHANGE_REST_WEIGHT_PER_MINUTE: '2400',
  });
  producer = ProducerProcess.start(['--source', 'binance', '--all'], env);
  await producer.ready();
  // 14 symbols listed at the start, 5 per connection.
  await waitForConnections(ex, 3);
  ex.play();
  await ex.finished;
  // Everything released; the producer may still be filling holes (the last of them is at most a reconnect
  // watch away). Released trades are counted per partition in /metrics.
  const total = totalTrades(expected);
  await pollUntil('the producer to release every expected trade', async () => {
    const m = await producer.metrics();
    if (!producer.running) throw new Error(`the producer exited: ${producer.stderrTail()}`);
    return m.sum('klinestream_producer_trades_total') >= total && m.value('klinestream_producer_buffer_records') === 0;
  }, 90_000, 250).catch((e: unknown) => {
    // Go on: the content check below names what is missing.
    process.stderr.write(`${(e as Error).message}\n`);
  });
  metrics = await producer.metrics();
  expect(await producer.stop()).toEqual({ code: 0, signal: null });
  if (process.env.PRODUCER_TEST_DUMP) {
    fs.writeFileSync(`${process.env.PRODUCER_TEST_DUMP}-trouble.stderr`, producer.stderr);
    fs.writeFileSync(`${process.env.PRODUCER_TEST_DUMP}-trouble.metrics`, metrics.text);
  }
  content = await readContent(prefix);
});

afterAll(async () => {
  await stopAllProducers();
  await closeStandins();
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
  await Promise.all([deleteApp(prefix), deleteApp(filePrefix)]);
  expect(runningProducers()).toEqual([]);
});

it('writes exactly the exchange trades: each once, in id order, on its symbol\'s partition, with the exchange values', () => {
  const problems = checkTrades(content, expected);
  expect(problems).toEqual([]);
  // The new listing was picked up, and the non-perpetual / non-trading symbols were not.
  expect([...content.symbols.byName.keys()].sort()).toEqual([...expected.keys()].sort());
  expect(content.bySymbol.get(LISTED_LATER)!.length).toBe(expected.get(LISTED_LATER)!.length);
  // Symbols spread over the partitions, indexes never reused.
  const placements = [...content.symbols.byName.values()].map((e) => e.partition);
  for (let p = 0; p < 6; p++) expect(placements.filter((x) => x === p).length).toBeGreaterThanOrEqual(2);
  expect(new Set(content.symbols.all.map((e) => `${e.symbol}:${e.index}`)).size).toBe(expected.size);
  expect(checkWatermarkShape(content)).toEqual([]);
  for (const list of content.watermarks) expect(list.length).toBeGreaterThan(10);
});

it('shows the trouble in /metrics: bad frames by reason, gaps found and filled, reconnects, 429s', () => {
  const stats = ex.stats;
  expect(stats.connectionsCut).toBeGreaterThanOrEqual(5);
  expect(stats.duplicatesSent).toBeGreaterThan(50);
  expect(stats.rest429).toBeGreaterThanOrEqual(2);
  // Every rejected frame counted by its reason (each garbage kind went to every subscribed connection).
  const bad = metrics.labelsOf('klinestream_producer_bad_frames_total', 'reason');
  expect(bad).toMatchObject({ not_json: expect.any(Number), missing_field: expect.any(Number), bad_type: expect.any(Number), non_positive: expect.any(Number) });
  // A frame whose times are in microseconds on a live (millisecond) stream: rejected by the time rules.
  expect(bad.time_unit).toBeGreaterThanOrEqual(2);
  // Well-formed frames of other kinds: subscription replies, klines (in the 2021 recordings, and injected).
  const other = metrics.labelsOf('klinestream_producer_other_frames_total', 'kind');
  expect(Object.keys(other).length).toBeGreaterThanOrEqual(1);
  // The oversized frames (2 MiB, over the 1 MiB frame limit) end their connection, counted as such.
  const reconnects = metrics.labelsOf('klinestream_producer_reconnects_total', 'reason');
  expect(reconnects.frame_too_large).toBeGreaterThanOrEqual(1);
  expect(Object.values(reconnects).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(stats.connectionsCut);
  const seq = (c: string) => metrics.value('klinestream_producer_sequencer', { counter: c });
  expect(seq('gapsFound')).toBeGreaterThanOrEqual(withheld.length);
  expect(seq('gapsFilled')).toBe(seq('gapsFound'));
  expect(seq('unfillableGaps')).toBe(0);
  expect(seq('duplicates')).toBeGreaterThanOrEqual(stats.duplicatesSent);
  expect(seq('releasedFromRest')).toBeGreaterThanOrEqual(stats.framesWithheld);
  expect(metrics.value('klinestream_producer_rest_requests_total', { endpoint: 'aggTrades', outcome: 'rate_limited' })).toBeGreaterThanOrEqual(1);
  // Never banned: every 429's Retry-After was honoured.
  expect(stats.rest418).toBe(0);
  // The final summary on stderr says the same.
  expect(producer.stderr).toMatch(/gaps (\d+) found \/ \1 filled \/ 0 unfillable/);
});

it('the file source writes the same trades as the WebSocket path, and a second run of the file adds nothing', async () => {
  const { dir, file } = writeFramesFile(ex, ['not json at all', '{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade"}}']);
  tmpDirs.push(dir);
  const env = { ...producerEnv(filePrefix, ex, { KLINESTREAM_PARTITIONS: '6' }), KLINESTREAM_LOG_LEVEL: 'warn' };
  const first = await runCli(['produce', '--source', `file:${file}`], env);
  expect({ code: first.code, stderr: first.code === 0 ? '' : first.stderr }).toEqual({ code: 0, stderr: '' });
  const fromFile = await readContent(filePrefix);
  // The file has every frame with its event time.
  expect(checkTrades(fromFile, expected, { eventTime: 'exact' })).toEqual([]);
  // Field for field the same as the WebSocket path, except the event time of trades that came through REST.
  let viaRest = 0;
  for (const [name, ws] of content.bySymbol) {
    const f = fromFile.bySymbol.get(name)!;
    expect(f.length).toBe(ws.length);
    for (let i = 0; i < ws.length; i++) {
      const { partition: _p1, offset: _o1, key: _k1, symbolIndex: _s1, eventTime: e1, ...a } = ws[i]!;
      const { partition: _p2, offset: _o2, key: _k2, symbolIndex: _s2, eventTime: e2, ...b } = f[i]!;
      expect(a).toEqual(b);
      if (e1 !== e2) {
        expect(e1).toBe(a.tradeTime);
        viaRest++;
      }
    }
  }
  expect(viaRest).toBeGreaterThan(0);

  // Again: everything is at or below the checkpoints; no trade and no symbol is written twice.
  const second = await runCli(['produce', '--source', `file:${file}`], env);
  expect({ code: second.code, stderr: second.code === 0 ? '' : second.stderr }).toEqual({ code: 0, stderr: '' });
  expect(second.stderr).toMatch(/produce: 0 trades written/);
  const again = await readContent(filePrefix);
  expect(checkTrades(again, expected, { eventTime: 'exact' })).toEqual([]);
  expect(again.symbols.all.length).toBe(fromFile.symbols.all.length);
  const tradeCount = (c: TopicContent) => c.trades.flat().filter((t) => t.kind === 'TRADE').length;
  expect(tradeCount(again)).toBe(tradeCount(fromFile));
});
