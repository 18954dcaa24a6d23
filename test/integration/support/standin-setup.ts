/**
 * The exchange stand-in for the producer suites: in this (the test's) process, so the test reads its truth
 * (expectedRecords, requests, connections) directly, while the producer under test runs as a separate
 * process talking to it over loopback.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { binanceDataDir } from '../../support/data-dir';
import { ExchangeStandin, type ExchangeStandinOptions, type StandinTrade } from '../../support/exchange-standin';
import { pollUntil } from './producer-process';

const DATA = binanceDataDir();

/** Real recorded USD-M frames (shared/data/binance). */
export const DATA_FILES = {
  /** 5 symbols, 574 trades over 2 minutes (2021 WebSocket recording). */
  usdm5: path.join(DATA, 'ws-recordings-2021/usdm_5symbols_aggTrade_20210405T1836.txt'),
  /** DENT, KSM, XMR, YFI: 185 trades over 29 s, with kline frames in between (2021). */
  usdmDent4: path.join(DATA, 'ws-recordings-2021/usdm_DENT-KSM-XMR-YFI_aggTrade+kline1m_20210417T1637.txt'),
  /** SUSHI, AKRO, KEEP, CTK: 91 trades over 29 s, with kline frames (2021). */
  usdmSushi4: path.join(DATA, 'ws-recordings-2021/usdm_SUSHI-AKRO-KEEP-CTK_aggTrade+kline1m_20210722T2225.txt'),
  /** BTCUSDT, 12,934 trades over 514 s. */
  btc2023: path.join(DATA, 'btcusdt-usdm-2023-04-04/aggtrade-frames.jsonl.gz'),
  /** BTCUSDT, 10,701 trades over 479 s. */
  btc2024Jul: path.join(DATA, 'btcusdt-usdm-2024-07-18/aggtrade-frames.jsonl.gz'),
  /** BTCUSDT, 21,313 trades over 343 s. */
  btc2024Aug: path.join(DATA, 'btcusdt-usdm-2024-08-08/aggtrade-frames.jsonl.gz'),
};

const standins = new Set<ExchangeStandin>();

/**
 * How far in the past a stand-in's timeline starts. A stand-in playing faster than real time runs its clock
 * ahead of the wall clock by (speed - 1) x the time played, and the producer rejects trades more than
 * KLINESTREAM_CLOCK_TOLERANCE_MS ahead of its clock (docs/times.md): starting 30 minutes back keeps a 12x
 * timeline behind the wall clock for 2.7 minutes of playing, well within the 24 h backfill age limit.
 */
export const STANDIN_PAST_MS = 30 * 60_000;

/**
 * Starts a stand-in whose timeline begins STANDIN_PAST_MS ago (so REST backfills are within the producer's
 * backfill age limit and no trade is ahead of the wall clock), aligned on whole seconds, waiting for play()
 * unless told otherwise.
 */
export async function startStandin(options: ExchangeStandinOptions): Promise<ExchangeStandin> {
  const ex = await ExchangeStandin.start({ align: 'start', shiftTo: Date.now() - STANDIN_PAST_MS, shiftUnitMs: 1000, playOn: 'call', ...options });
  standins.add(ex);
  return ex;
}

export async function closeStandins(): Promise<void> {
  await Promise.all([...standins].map((s) => s.close()));
  standins.clear();
}

/** Waits until `n` WebSocket connections with subscriptions are open on the stand-in. */
export async function waitForConnections(ex: ExchangeStandin, n: number, timeoutMs = 30_000): Promise<void> {
  await pollUntil(`${n} open stream connections on the stand-in`, () => ex.connections().filter((c) => c.open && c.streams.length > 0).length >= n, timeoutMs);
}

/** Expected records per symbol, as a plain map. */
export function expectedOf(ex: ExchangeStandin): Map<string, readonly StandinTrade[]> {
  return ex.expectedRecords();
}

export function totalTrades(expected: Map<string, readonly StandinTrade[]>): number {
  let n = 0;
  for (const l of expected.values()) n += l.length;
  return n;
}

/**
 * The stand-in's timeline as a frames file, in release order (event time, then source order), as the
 * exchange pushed it: combined-stream frames, duplicated frames twice, and the garbage lines given.
 */
export function writeFramesFile(ex: ExchangeStandin, extraLines: string[] = []): { dir: string; file: string } {
  const duplicated = ex.duplicatedTrades();
  const rows: Array<{ e: number; seq: number; line: string }> = [];
  let seq = 0;
  const all: StandinTrade[] = [];
  for (const list of ex.expectedRecords().values()) all.push(...list);
  // Release order of the stand-in: E, then file, then position in the file (ids ascend within a file).
  all.sort((a, b) => a.eventTime - b.eventTime || a.file - b.file || a.aggId - b.aggId);
  for (const t of all) {
    const data = `{"e":"aggTrade","E":${t.eventTime},"s":${JSON.stringify(t.symbol)},"a":${t.aggId},"p":${JSON.stringify(t.price)},"q":${JSON.stringify(t.quantity)},"f":${t.firstTradeId},"l":${t.lastTradeId},"T":${t.tradeTime},"m":${t.isBuyerMaker}}`;
    const line = `{"stream":"${t.symbol.toLowerCase()}@aggTrade","data":${data}}`;
    rows.push({ e: t.eventTime, seq: seq++, line });
    if (duplicated.get(t.symbol)?.includes(t.aggId)) rows.push({ e: t.eventTime, seq: seq++, line });
  }
  const lines = rows.map((r) => r.line);
  // Garbage spread through the file.
  extraLines.forEach((g, i) => lines.splice(Math.floor(((i + 1) * lines.length) / (extraLines.length + 1)), 0, g));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-producer-frames-'));
  const file = path.join(dir, 'frames.jsonl');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return { dir, file };
}

/** Picks `perSymbol` trades per symbol in the middle of its list (never its last trade: a later live frame reveals the hole). */
export function middleIds(ex: ExchangeStandin, symbols: string[], perSymbol = 1): number[] {
  const out: number[] = [];
  for (const s of symbols) {
    const list = ex.expectedRecords().get(s);
    if (list === undefined || list.length < 3) throw new Error(`no usable trades of ${s} on the timeline`);
    for (let k = 1; k <= perSymbol; k++) out.push(list[Math.floor((k * list.length) / (perSymbol + 1))]!.aggId);
  }
  return out;
}
