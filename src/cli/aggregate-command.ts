/**
 * `klinestream aggregate --source file:PATH [--intervals ...] [--format csv|json]`: recorded frames to final
 * klines in one process, no Kafka: the same parser and aggregator the producer and workers use. Event time
 * comes from the trades themselves (the highest trade time seen is the watermark), so the output equals what
 * the worker group publishes as final for the same trades. Garbage lines are skipped, counted and reported.
 */
import { once } from 'node:events';
import { APPLIED, DUPLICATE, INVALID, KlineAggregator, LATE, NEEDS_FLUSH } from '../aggregation/aggregator';
import { KlineBatch, batchRecord } from '../aggregation/kline-batch';
import { loadConfig, type Config } from '../config/config';
import { KLINE_CSV_HEADER, klineCsvRow } from '../downstream/kline-csv';
import { UsageError } from '../errors';
import { detectFileFormat, detectTimeUnit, readArchiveCsv } from '../exchange/archive-csv';
import { TradeTimeCheck } from '../exchange/trade-times';
import { checkFrameFile, parseFileSource, readAggTrades } from '../exchange/frame-file';
import { FrameStats } from '../exchange/frame-stats';
import { createLogger } from '../observability/log';
import { SymbolTable } from '../symbols/symbol-table';
import { parseCommandArgs, stringOption } from './args';
import type { Command } from './commands';

const USAGE = `Usage: klinestream aggregate --source file:PATH [--intervals 1m,5m] [--format csv|json] [--grace-ms N]
       klinestream aggregate --source file:ARCHIVE.csv --symbol S [--intervals ...]

Reads recorded exchange frames (one per line, optionally gzipped, optionally with a leading receive
timestamp), or the exchange's public archive CSV of aggregate trades of one symbol (--symbol S; with or
without a header; millisecond or microsecond times), and prints the final klines, oldest first per symbol
and interval. A file's time unit is the one most of its first 1,000 trades use (ms or us); a trade in
another unit, outside the plausible window or far from its event time is counted as malformed and skipped
(docs/times.md). A kline is final once a later
trade of the same symbol, or any trade more than --grace-ms later, passes its close time; the klines still
open at the end of the file are not printed. Summary, progress and malformed-line reports go to stderr.`;

const PROGRESS_EVERY_MS = 2000;

export const aggregateCommand: Command = {
  name: 'aggregate',
  usage: 'aggregate --source file:PATH [--symbol S] [--intervals 1m,5m] --format csv',
  summary: 'offline: frames to final klines, no Kafka',
  async run(argv) {
    const args = parseCommandArgs('aggregate', argv, { source: { type: 'string' }, format: { type: 'string' }, symbol: { type: 'string' } });
    if (args.values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const format = stringOption(args, 'format') ?? 'csv';
    if (format !== 'csv' && format !== 'json') throw new UsageError(`aggregate: --format must be csv or json, got ${JSON.stringify(format)}`);
    const path = parseFileSource(stringOption(args, 'source'), 'aggregate');
    const config = loadConfig(process.env, args.configFlags);
    const log = createLogger({ bindings: { command: 'aggregate' } });
    await checkFrameFile(path);
    const symbol = archiveSymbol(stringOption(args, 'symbol'), await detectFileFormat(path), path);
    const fileFormat = symbol === undefined ? 'frames' : 'archive-csv';
    const unit = await detectTimeUnit(path, fileFormat, config.times);
    if (unit !== 'ms') log.info('the file\'s times are not milliseconds: read as such and converted', { path, unit });
    return aggregateFile(path, symbol, config, new TradeTimeCheck(config.times, unit), format, log);
  },
};

/**
 * The symbol of an archive CSV (which does not name it), or undefined for a frames file. `--symbol` is
 * required with an archive CSV and refused with frames (they carry their symbols).
 */
export function archiveSymbol(raw: string | undefined, format: 'frames' | 'archive-csv', path: string, command = 'aggregate'): string | undefined {
  if (format === 'archive-csv') {
    if (raw === undefined || raw.trim() === '') {
      throw new UsageError(`${command}: ${path} is an archive CSV of aggregate trades, which does not name its symbol: add --symbol S (e.g. --symbol BTCUSDT)`);
    }
    const symbol = raw.trim().toUpperCase();
    if (!/^[A-Z0-9_]{2,40}$/.test(symbol)) throw new UsageError(`${command}: --symbol: ${JSON.stringify(raw)} is not an exchange symbol`);
    return symbol;
  }
  if (raw !== undefined) throw new UsageError(`${command}: --symbol is for archive CSV files; ${path} holds frames, which name their symbols`);
  return undefined;
}

async function aggregateFile(
  path: string, csvSymbol: string | undefined, config: Config, times: TradeTimeCheck, format: 'csv' | 'json', log: ReturnType<typeof createLogger>,
): Promise<number> {
  const agg = new KlineAggregator({ intervals: config.intervals, graceMs: config.graceMs, timeFromMs: config.times.fromMs, timeToMs: config.times.toMs });
  const batch = new KlineBatch(8192);
  const symbols = new SymbolTable();
  const stats = new FrameStats();
  const out = process.stdout;
  let printed = 0;

  // Publishing here is printing: finals only (the same records `klines --final` shows), then confirm.
  const emit = async (): Promise<void> => {
    agg.flush(batch);
    const lines: string[] = [];
    for (let i = 0; i < batch.length; i++) {
      if (batch.isFinal[i] !== 1) continue;
      const symbol = symbols.nameOf(batch.symbolIndex[i]!)!;
      if (format === 'csv') {
        lines.push(klineCsvRow(batch, i, symbol));
      } else {
        const { symbolIndex: _index, ...fields } = batchRecord(batch, i);
        lines.push(JSON.stringify({ symbol, ...fields }));
      }
    }
    agg.confirm();
    printed += lines.length;
    if (lines.length > 0 && !out.write(lines.join('\n') + '\n')) await once(out, 'drain');
  };

  if (format === 'csv') out.write(KLINE_CSV_HEADER + '\n');
  let eventTime = -Infinity;
  let lastProgress = Date.now();
  let trades = 0;
  // Trades with implausible times are counted as malformed there and never reach the aggregator.
  const source = csvSymbol === undefined ? readAggTrades(path, stats, { times }) : readArchiveCsv(path, csvSymbol, stats, { times });
  for await (const t of source) {
    const symbol = symbols.indexOf(t.symbol);
    let result = agg.ingest(symbol, t.aggId, t.firstTradeId, t.lastTradeId, t.price, t.quantity, t.tradeTime, t.isBuyerMaker);
    while (result === NEEDS_FLUSH) {
      await emit();
      result = agg.ingest(symbol, t.aggId, t.firstTradeId, t.lastTradeId, t.price, t.quantity, t.tradeTime, t.isBuyerMaker);
    }
    if (result === LATE) {
      log.warn('late trade: its kline was already final; not merged', { symbol: t.symbol, aggId: t.aggId, tradeTime: t.tradeTime, eventTime });
    } else if (result === INVALID) {
      log.warn('invalid trade rejected by the aggregator', { symbol: t.symbol, aggId: t.aggId });
    } else if (result !== APPLIED && result !== DUPLICATE) {
      throw new Error(`unexpected aggregator result ${result}`);
    }
    if (t.tradeTime > eventTime) {
      eventTime = t.tradeTime;
      while (agg.advanceWatermark(eventTime) === NEEDS_FLUSH) await emit();
    }
    if ((++trades & 0xffff) === 0 && Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = Date.now();
      log.info('progress', { frames: stats.frames, trades, klinesPrinted: printed, eventTime: new Date(eventTime).toISOString() });
    }
  }
  do await emit();
  while (agg.hasPending);

  for (const e of stats.examples) log.warn('malformed frame skipped', { path, line: e.lineNo, reason: e.reason, text: e.text });
  const c = agg.counters;
  log.info('aggregate finished', {
    path, frames: stats.frames, aggTrades: stats.ok, otherFrames: stats.notAggTrade, malformed: stats.malformed,
    headerLines: stats.headerLines, blankLines: stats.blankLines, symbols: symbols.size,
    tradesApplied: c.tradesApplied, duplicates: c.duplicates, lateTrades: c.lateTrades, invalidTrades: c.invalidTrades,
    implausibleTimes: times.rejected.reduce((a, b) => a + b, 0),
    finalKlines: printed,
  });
  process.stderr.write(
    `aggregate: ${c.tradesApplied} trades applied, ${c.duplicates} duplicates, ${c.lateTrades} late, ${c.invalidTrades} invalid; ` +
      `${printed} final klines for ${symbols.size} symbols\naggregate: ${stats.summary()}\n`,
  );
  return 0;
}
