/**
 * `klinestream klines [--symbol S] [--interval I] [--final] [--from-beginning] [--format json|csv] [--exit-at-end]`:
 * prints klines from the `klines` topic (SPEC section 5) through KlineConsumer (src/downstream/kline-consumer.ts):
 * duplicates dropped, read_committed, undecodable records counted and skipped. An ephemeral consumer group:
 * nothing is committed. Klines go to stdout (with backpressure), logs, progress and the summary to stderr.
 */
import { once } from 'node:events';
import { INTERVAL_NAMES } from '../aggregation/intervals';
import type { Kline } from '../codec/records';
import { loadConfig } from '../config/config';
import { KlineConsumer, klineConsumerOptions, type KlineConsumerStats } from '../downstream/kline-consumer';
import { KLINE_CSV_HEADER, klineRecordCsvRow } from '../downstream/kline-csv';
import { UsageError } from '../errors';
import { createLogger, type Logger } from '../observability/log';
import { resolveConnection } from '../stack/stack';
import { parseCommandArgs, stringOption, type ParsedArgs } from './args';
import type { Command } from './commands';

const USAGE = `Usage: klinestream klines [--symbol S] [--interval I] [--final] [--from-beginning] [--format json|csv] [--exit-at-end]

Prints klines from the klines topic (under KLINESTREAM_TOPIC_PREFIX / --topic-prefix), one per line.

Options:
  --symbol S        only these symbols (exact exchange names, e.g. BTCUSDT); repeat or comma-separate
  --interval I      only these intervals (${INTERVAL_NAMES.join(' ')}); repeat or comma-separate
  --final           only final klines: each once (its latest version), in order per symbol and interval
  --from-beginning  start at the oldest retained record (default: only records written from now on)
  --format F        json (default): one JSON object per line with every Kline field;
                    csv: a header, then ${KLINE_CSV_HEADER}
  --exit-at-end     stop at the end of the topic as it is at the start, and exit 0

Every record is the full state of one kline; republished versions (after a worker crash) are dropped: a
version not above the one printed for the same symbol, interval and open time is not printed again.
Records that cannot be decoded are skipped, counted and logged on stderr. Ctrl-C stops (exit 0).
Connection: KAFKA_BROKERS and SCHEMA_REGISTRY_URL (or --brokers / --schema-registry); unset = embedded local stack.`;

const PROGRESS_EVERY_MS = 5000;

export interface KlinesArgs {
  symbols: string[] | undefined;
  intervals: string[] | undefined;
  finalOnly: boolean;
  fromBeginning: boolean;
  format: 'json' | 'csv';
  exitAtEnd: boolean;
}

/** `--symbol A --symbol B,C` -> [A, B, C]; an empty name is a usage error. */
function listOption(args: ParsedArgs, name: string): string[] | undefined {
  const raw = args.values[name];
  if (raw === undefined) return undefined;
  const values = Array.isArray(raw) ? raw : [String(raw)];
  const out: string[] = [];
  for (const v of values) {
    for (const part of v.split(',')) {
      const item = part.trim();
      if (item === '') throw new UsageError(`klines: --${name} needs a value (got ${JSON.stringify(v)})`);
      if (!out.includes(item)) out.push(item);
    }
  }
  return out;
}

/** Parses and checks the command's own options; exported for unit tests. */
export function parseKlinesArgs(args: ParsedArgs): KlinesArgs {
  if (args.positionals.length > 0) throw new UsageError(`klines: unexpected argument ${JSON.stringify(args.positionals[0])}`);
  const format = stringOption(args, 'format') ?? 'json';
  if (format !== 'csv' && format !== 'json') throw new UsageError(`klines: --format must be json or csv, got ${JSON.stringify(format)}`);
  const symbols = listOption(args, 'symbol');
  for (const s of symbols ?? []) {
    if (!/^[A-Za-z0-9._-]+$/.test(s)) throw new UsageError(`klines: --symbol ${JSON.stringify(s)} is not a symbol name (letters, digits, '.', '_', '-')`);
  }
  const intervals = listOption(args, 'interval');
  for (const i of intervals ?? []) {
    if (!(INTERVAL_NAMES as readonly string[]).includes(i)) {
      throw new UsageError(`klines: unknown --interval ${JSON.stringify(i)}; known: ${INTERVAL_NAMES.join(',')}`);
    }
  }
  return {
    symbols,
    intervals,
    finalOnly: args.values.final === true,
    fromBeginning: args.values['from-beginning'] === true,
    format,
    exitAtEnd: args.values['exit-at-end'] === true,
  };
}

/** One output line per kline, in the chosen format. */
export function formatKline(k: Kline, format: 'json' | 'csv'): string {
  return format === 'csv' ? klineRecordCsvRow(k) : JSON.stringify(k);
}

export const klinesCommand: Command = {
  name: 'klines',
  usage: 'klines [--symbol S] [--interval I] [--final] [--from-beginning] [--format json|csv] [--exit-at-end]',
  summary: 'print klines from the klines topic',
  async run(argv) {
    const args = parseCommandArgs('klines', argv, {
      symbol: { type: 'string', multiple: true },
      interval: { type: 'string', multiple: true },
      final: { type: 'boolean' },
      'from-beginning': { type: 'boolean' },
      format: { type: 'string' },
      'exit-at-end': { type: 'boolean' },
    });
    if (args.values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const opts = parseKlinesArgs(args);
    const config = loadConfig(process.env, args.configFlags);
    const log = createLogger({ level: config.logLevel, bindings: { command: 'klines' } });
    const connection = await resolveConnection(config, log);
    const consumer = new KlineConsumer(
      klineConsumerOptions(config, connection, {
        ...(opts.symbols === undefined ? {} : { symbols: opts.symbols }),
        ...(opts.intervals === undefined ? {} : { intervals: opts.intervals }),
        finalOnly: opts.finalOnly,
        fromBeginning: opts.fromBeginning,
      }),
      log,
    );
    return printKlines(consumer, opts, log);
  },
};

async function printKlines(consumer: KlineConsumer, opts: KlinesArgs, log: Logger): Promise<number> {
  const out = process.stdout;
  let printed = 0;
  let outputError: Error | undefined;
  let outputClosed = false;
  const onOutputError = (e: Error): void => {
    // A reader that went away (`klinestream klines | head`) ends the command, successfully.
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') outputClosed = true;
    else outputError = e;
    void consumer.stop();
  };
  out.on('error', onOutputError);
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info('stopping', { signal });
    void consumer.stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let lastStats = '';
  const progress = setInterval(() => {
    const s = JSON.stringify(consumer.stats);
    if (s === lastStats) return;
    lastStats = s;
    log.info('progress', { printed, ...consumer.stats });
  }, PROGRESS_EVERY_MS);
  progress.unref();

  const write = async (text: string): Promise<void> => {
    if (outputClosed || outputError !== undefined) return;
    if (!out.write(text)) {
      await Promise.race([once(out, 'drain'), once(out, 'close')]).catch(() => undefined);
    }
  };

  try {
    if (opts.format === 'csv') await write(KLINE_CSV_HEADER + '\n');
    const handler = async (k: Kline): Promise<void> => {
      await write(formatKline(k, opts.format) + '\n');
      printed++;
    };
    if (opts.exitAtEnd) await consumer.readToEnd(handler);
    else await consumer.run(handler);
  } finally {
    clearInterval(progress);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    out.off('error', onOutputError);
  }
  const stats = consumer.stats;
  log.info('klines finished', { printed, ...stats });
  process.stderr.write(summary(printed, stats) + '\n');
  if (outputError !== undefined) throw outputError;
  return 0;
}

function summary(printed: number, s: KlineConsumerStats): string {
  const dropped = s.duplicates + s.superseded;
  return (
    `klines: ${printed} klines printed; ${s.received} records read, ${dropped} duplicates dropped` +
    (s.notFinal > 0 ? `, ${s.notFinal} live (not final) skipped` : '') +
    (s.filtered > 0 ? `, ${s.filtered} of other symbols/intervals` : '') +
    `, ${s.decodeFailures} undecodable`
  );
}
