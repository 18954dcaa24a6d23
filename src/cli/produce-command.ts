/**
 * `klinestream produce --source binance [--symbols A,B | --all]` and `--source file:PATH [--speed ...]`:
 * exchange trades into the `trades` topic (src/producer/producer.ts). Runs until Ctrl-C / SIGTERM (live) or
 * the end of the file, writes what is buffered, prints the counts and exits 0; exit 1 when it had to stop
 * (e.g. another producer took over), 2 for bad usage or configuration.
 */
import { loadConfig } from '../config/config';
import { UsageError } from '../errors';
import { detectFileFormat } from '../exchange/archive-csv';
import { checkFrameFile, parseSource } from '../exchange/frame-file';
import { createRegistry, serveMetrics } from '../observability/metrics';
import { createLogger } from '../observability/log';
import { registerProcess } from '../observability/process-registry';
import { Producer, type ProducerSource } from '../producer/producer';
import { resolveConnection } from '../stack/stack';
import { archiveSymbol } from './aggregate-command';
import { parseCommandArgs, stringOption } from './args';
import type { Command } from './commands';

const USAGE = `Usage: klinestream produce --source binance [--symbols A,B | --all]
       klinestream produce --source file:PATH [--speed max|realtime|<factor>x]
       klinestream produce --source file:ARCHIVE.csv --symbol S [--speed ...]

Publishes exchange aggregate trades to the trades topic as Avro numeric trades, one Kafka transaction per
batch, with event-time watermarks for every partition. Live: Binance aggTrade streams (KLINESTREAM_MARKET
usdm or spot), gaps and reconnects backfilled from REST, restarts resumed from the last trade in Kafka.
File: recorded frames (one per line, gzip or not, optional receive timestamps), or the exchange's archive
CSV of one symbol's aggregate trades (--symbol S; ms or us times), then exit with counts.

Options:
  --symbols A,B     symbols to stream (exchange names, e.g. BTCUSDT,ETHUSDT)
  --all             every TRADING perpetual contract (spot: every TRADING symbol), new listings included
  --speed S         file only: max (default), realtime, or a factor like 10x
  --symbol S        file only: the symbol of an archive CSV of aggregate trades (the file does not name it)
  --feeds 1|2       live only: independent WebSocket connections per stream group (default 1); with 2 each
                    trade is taken from whichever delivers it first, so a single cut needs no REST backfill
Trades whose time cannot be real (not ms live, outside 2017..2100, far from their event time, ahead of the
clock) are bad frames: counted, logged, never written (docs/times.md). A file is read in the unit most of
its first 1,000 trades use (ms or us).
Settings (flags or environment; see README): --partitions, --producer-buffer-trades, --producer-held-trades,
  --backfill-max-age-ms, --exchange-rest-weight-per-minute, --watermark-interval-ms, --exchange-ws-url,
  --exchange-rest-url, --metrics-port, --plausible-time-from, --clock-tolerance-ms, ...`;

export function parseSpeed(raw: string | undefined): number | 'max' {
  if (raw === undefined || raw === 'max') return 'max';
  if (raw === 'realtime') return 1;
  const m = /^(\d+(?:\.\d+)?)x$/.exec(raw);
  if (!m || Number(m[1]) <= 0) throw new UsageError(`produce: --speed must be max, realtime or a factor like 10x, got ${JSON.stringify(raw)}`);
  return Number(m[1]);
}

export function parseSymbolList(raw: string): string[] {
  const list = raw.split(',').map((s) => s.trim().toUpperCase()).filter((s) => s.length > 0);
  if (list.length === 0) throw new UsageError('produce: --symbols needs at least one symbol, e.g. --symbols BTCUSDT,ETHUSDT');
  for (const s of list) if (!/^[A-Z0-9_]{2,40}$/.test(s)) throw new UsageError(`produce: --symbols: ${JSON.stringify(s)} is not an exchange symbol`);
  return [...new Set(list)];
}

export const produceCommand: Command = {
  name: 'produce',
  usage: 'produce --source binance [--symbols A,B | --all] | --source file:PATH [--symbol S] [--speed max|realtime|Nx]',
  summary: 'publish exchange trades to Kafka',
  async run(argv) {
    const args = parseCommandArgs('produce', argv, {
      source: { type: 'string' }, symbols: { type: 'string' }, all: { type: 'boolean' }, speed: { type: 'string' }, symbol: { type: 'string' },
    });
    if (args.values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const source = parseSource(stringOption(args, 'source'), 'produce');
    let producerSource: ProducerSource;
    if (source.kind === 'file') {
      if (args.values.all || stringOption(args, 'symbols') !== undefined) throw new UsageError('produce: --symbols and --all are for --source binance');
      producerSource = { kind: 'file', path: source.path, speed: parseSpeed(stringOption(args, 'speed')) };
    } else {
      if (stringOption(args, 'speed') !== undefined) throw new UsageError('produce: --speed is for --source file:PATH');
      if (stringOption(args, 'symbol') !== undefined) throw new UsageError('produce: --symbol is for --source file:ARCHIVE.csv; use --symbols A,B with --source binance');
      const symbols = stringOption(args, 'symbols');
      if (args.values.all === true && symbols !== undefined) throw new UsageError('produce: give --symbols or --all, not both');
      if (args.values.all !== true && symbols === undefined) throw new UsageError('produce: --source binance needs --symbols A,B or --all');
      producerSource = { kind: 'binance', symbols: args.values.all === true ? 'all' : parseSymbolList(symbols!) };
    }
    const config = loadConfig(process.env, args.configFlags);
    const log = createLogger({ level: config.logLevel, bindings: { cmd: 'produce' } });
    if (source.kind === 'file') {
      await checkFrameFile(source.path);
      const format = await detectFileFormat(source.path);
      const symbol = archiveSymbol(stringOption(args, 'symbol'), format, source.path, 'produce');
      producerSource = { ...producerSource, format, ...(symbol === undefined ? {} : { symbol }) } as ProducerSource;
    }
    const connection = await resolveConnection(config, log);
    const registry = createRegistry('producer');
    const metrics = await serveMetrics(registry, config.metricsPort, log);
    const registration = registerProcess(config, { role: 'producer', metricsUrl: metrics.url, source: stringOption(args, 'source') ?? '' });
    const abort = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      if (abort.signal.aborted) return;
      log.info('stopping: writing what is buffered', { signal });
      abort.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const producer = new Producer({ config, connection, source: producerSource, log, registry, signal: abort.signal });
      const s = await producer.run();
      const stats = producer.frameStats;
      process.stderr.write(
        `produce: ${s.tradesWritten} trades written in ${s.transactions} transactions for ${s.symbols} symbols in ${(s.elapsedMs / 1000).toFixed(1)} s; ` +
          `${s.duplicates} duplicates dropped, gaps ${s.gapsFound} found / ${s.gapsFilled} filled / ${s.unfillableGaps} unfillable, ${s.releasedFromRest} trades from REST` +
          `${s.heldAtStop > 0 ? `; ${s.heldAtStop} trades held behind open gaps at the stop (the next start backfills them)` : ''}` +
          `${s.unwritten > 0 ? `; ${s.unwritten} NOT written (Kafka unavailable)` : ''}\nproduce: ${stats.summary()}\n`,
      );
      log.info('produce finished', { ...s });
      return s.unwritten > 0 ? 1 : 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      registration.remove();
      await metrics.close();
    }
  },
};
