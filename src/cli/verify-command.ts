/**
 * `klinestream verify (--symbol S|--all) [--interval I|all] [--from T] [--to T] [--format text|json]`: checks
 * the final klines of the `klines` topic against the exchange's own klines over REST (issue 19). Ours are
 * read through KlineConsumer (final only, each once, read_committed, duplicates dropped) from the start of
 * the topic to its end as it is now; the exchange's through the REST client's weight budget (see
 * src/verify/exchange-klines.ts). The window: klines with open time >= from and close time < to.
 *
 * Exit: 0 when every kline matches and neither side has one the other lacks, 1 otherwise, 2 on usage.
 * Report on stdout (text lines or one JSON object); logs on stderr.
 */
import { INTERVAL_NAMES } from '../aggregation/intervals';
import type { Kline } from '../codec/records';
import { loadConfig } from '../config/config';
import { KlineConsumer, klineConsumerOptions } from '../downstream/kline-consumer';
import { UsageError } from '../errors';
import { BinanceRest } from '../exchange/binance-rest';
import { createLogger } from '../observability/log';
import { resolveConnection } from '../stack/stack';
import { compareSeries } from '../verify/compare-klines';
import { fetchExchangeKlines } from '../verify/exchange-klines';
import { addSeries, allMatch, emptyReport, reportJson, reportLines, type VerifyReport } from '../verify/verify-report';
import { parseCommandArgs, stringOption, type ParsedArgs } from './args';
import type { Command } from './commands';

const HOUR_MS = 3_600_000;
const DEFAULT_MAX_KLINES = 200_000;
/** Earliest plausible time of a window: the exchange opened in July 2017. */
const EARLIEST = Date.UTC(2017, 6, 1);
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: HOUR_MS, d: 24 * HOUR_MS };

const USAGE = `Usage: klinestream verify (--symbol S | --all) [--interval I | --interval all] [--from T] [--to T] [--format text|json] [--max-klines N]

Compares the final klines of the klines topic with the exchange's own klines (REST /fapi/v1/klines, or
/api/v3/klines with --market spot), every field at the precision the exchange prints.

Options:
  --symbol S      these symbols (exact exchange names); repeat or comma-separate
  --all           every symbol that has final klines in the window
  --interval I    these intervals (${INTERVAL_NAMES.join(' ')}); repeat or comma-separate;
                  'all' (default): the configured KLINESTREAM_INTERVALS
  --from T        window start: epoch ms, ISO 8601 (2024-07-18T00:00Z), 'now' or 'now-90m' (s, m, h, d);
                  default: one hour before --to
  --to T          window end (exclusive), same forms; default now. A kline is compared when its open time
                  is at or after --from and its close time before --to
  --format F      text (default): a line per mismatch (symbol, interval, open time, field, ours, theirs),
                  per kline only one side has, then a summary line; json: one object with all of it
  --max-klines N  most of our klines held, and of the exchange's per series (default ${DEFAULT_MAX_KLINES});
                  more is an error (exit 2)

Exit status: 0 all match, 1 any mismatch or kline only one side has, 2 bad usage.
Requests stay within the exchange's weight limit (KLINESTREAM_EXCHANGE_REST_WEIGHT_PER_MINUTE), read its
used-weight header and pause on 429/418. KLINESTREAM_EXCHANGE_REST_URL points it elsewhere (a stand-in).`;

export interface VerifyArgs {
  /** undefined = --all. */
  symbols: string[] | undefined;
  /** undefined = all configured. */
  intervals: string[] | undefined;
  from: number;
  to: number;
  format: 'text' | 'json';
  maxKlines: number;
}

function listOption(args: ParsedArgs, name: string): string[] | undefined {
  const raw = args.values[name];
  if (raw === undefined) return undefined;
  const out: string[] = [];
  for (const v of Array.isArray(raw) ? raw : [String(raw)]) {
    for (const part of v.split(',')) {
      const item = part.trim();
      if (item === '') throw new UsageError(`verify: --${name} needs a value (got ${JSON.stringify(v)})`);
      if (!out.includes(item)) out.push(item);
    }
  }
  return out;
}

/** A time of the command line: epoch ms, ISO 8601, `now`, `now-<n><s|m|h|d>`. */
export function parseTime(name: string, text: string, now: number): number {
  const rel = /^now(?:-([0-9]{1,9})([smhd]))?$/.exec(text);
  let t: number;
  if (rel !== null) t = rel[1] === undefined ? now : now - Number(rel[1]) * UNIT_MS[rel[2]!]!;
  else if (/^[0-9]{1,16}$/.test(text)) t = Number(text);
  else if (/^[0-9]{4}-[0-9]{2}-[0-9]{2}/.test(text)) t = Date.parse(text);
  else t = NaN;
  if (!Number.isFinite(t)) throw new UsageError(`verify: --${name} ${JSON.stringify(text)} is not a time (epoch ms, ISO 8601, now, now-90m)`);
  if (t < EARLIEST || t > now + 24 * HOUR_MS) {
    throw new UsageError(`verify: --${name} ${new Date(t).toISOString()} is implausible (before ${new Date(EARLIEST).toISOString()} or more than a day ahead)`);
  }
  return t;
}

export function parseVerifyArgs(args: ParsedArgs, now: number): VerifyArgs {
  if (args.positionals.length > 0) throw new UsageError(`verify: unexpected argument ${JSON.stringify(args.positionals[0])}`);
  const symbols = listOption(args, 'symbol');
  const all = args.values.all === true;
  if (symbols === undefined && !all) throw new UsageError('verify: give --symbol S or --all');
  if (symbols !== undefined && all) throw new UsageError('verify: --symbol and --all exclude each other');
  for (const s of symbols ?? []) {
    if (!/^[A-Z0-9._-]{1,40}$/.test(s)) throw new UsageError(`verify: --symbol ${JSON.stringify(s)} is not an exchange symbol (upper-case letters, digits, '.', '_', '-')`);
  }
  let intervals = listOption(args, 'interval');
  if (intervals !== undefined && intervals.includes('all')) {
    if (intervals.length > 1) throw new UsageError("verify: --interval all excludes other intervals");
    intervals = undefined;
  }
  for (const i of intervals ?? []) {
    if (!(INTERVAL_NAMES as readonly string[]).includes(i)) throw new UsageError(`verify: unknown --interval ${JSON.stringify(i)}; known: ${INTERVAL_NAMES.join(',')}, all`);
  }
  const toText = stringOption(args, 'to');
  const to = toText === undefined ? now : parseTime('to', toText, now);
  const fromText = stringOption(args, 'from');
  const from = fromText === undefined ? to - HOUR_MS : parseTime('from', fromText, now);
  if (!(from < to)) throw new UsageError(`verify: --from ${new Date(from).toISOString()} is not before --to ${new Date(to).toISOString()}`);
  const format = stringOption(args, 'format') ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError(`verify: --format must be text or json, got ${JSON.stringify(format)}`);
  const maxText = stringOption(args, 'max-klines');
  const maxKlines = maxText === undefined ? DEFAULT_MAX_KLINES : Number(maxText);
  if (maxText !== undefined && (!/^[0-9]{1,9}$/.test(maxText) || maxKlines < 1)) throw new UsageError(`verify: --max-klines must be a positive integer, got ${JSON.stringify(maxText)}`);
  return { symbols, intervals, from, to, format, maxKlines };
}

export const verifyCommand: Command = {
  name: 'verify',
  usage: 'verify (--symbol S|--all) [--interval I|all] [--from T] [--to T] [--format text|json]',
  summary: 'check final klines against the exchange\'s own klines (exit 1 on any difference)',
  async run(argv) {
    const args = parseCommandArgs('verify', argv, {
      symbol: { type: 'string', multiple: true },
      all: { type: 'boolean' },
      interval: { type: 'string', multiple: true },
      from: { type: 'string' },
      to: { type: 'string' },
      format: { type: 'string' },
      'max-klines': { type: 'string' },
    });
    if (args.values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const opts = parseVerifyArgs(args, Date.now());
    const config = loadConfig(process.env, args.configFlags);
    const log = createLogger({ level: config.logLevel, bindings: { command: 'verify' } });
    const intervals = opts.intervals ?? [...config.intervals];
    const connection = await resolveConnection(config, log);

    // Ours: every final kline of the window, grouped by symbol and interval.
    const ours = new Map<string, Kline[]>();
    let held = 0;
    const consumer = new KlineConsumer(
      klineConsumerOptions(config, connection, {
        ...(opts.symbols === undefined ? {} : { symbols: opts.symbols }),
        intervals,
        finalOnly: true,
        fromBeginning: true,
      }),
      log,
    );
    await consumer.readToEnd((k) => {
      if (k.openTime < opts.from || k.closeTime >= opts.to) return;
      if (++held > opts.maxKlines) {
        throw new UsageError(`verify: more than ${opts.maxKlines} of our klines in the window; narrow --from/--to or raise --max-klines`);
      }
      const key = `${k.symbol}\u0000${k.interval}`;
      const list = ours.get(key);
      if (list === undefined) ours.set(key, [k]);
      else list.push(k);
    });
    const symbols = opts.symbols ?? [...new Set([...ours.values()].map((l) => l[0]!.symbol))].sort();

    const rest = new BinanceRest({ baseUrl: config.exchangeRestUrl, paths: config.marketPaths, weightPerMinute: config.restWeightPerMinute, log });
    const report: VerifyReport = emptyReport(opts.from, opts.to);
    try {
      for (const symbol of symbols) {
        for (const interval of intervals) {
          const mine = ours.get(`${symbol}\u0000${interval}`) ?? [];
          const theirs = await fetchExchangeKlines(rest, config.market, { symbol, interval, from: opts.from, to: opts.to, maxKlines: opts.maxKlines });
          addSeries(report, symbol, interval, compareSeries(mine, theirs));
        }
      }
    } finally {
      rest.close();
    }
    if (!allMatch(report)) {
      log.error('klines differ from the exchange', {
        mismatchedKlines: report.mismatchedKlines, fields: report.mismatches.length, onlyExchange: report.onlyExchange.length, onlyOurs: report.onlyOurs.length,
        first: report.mismatches[0],
      });
    }
    process.stdout.write(opts.format === 'json' ? reportJson(report) + '\n' : reportLines(report).join('\n') + '\n');
    return allMatch(report) ? 0 : 1;
  },
};
