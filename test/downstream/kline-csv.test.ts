/**
 * The CSV row of a decoded Kline record (`klines --format csv`) is the same text as the aggregator's row for
 * the same kline (`aggregate`), and the command's option parsing rejects bad usage with exit code 2.
 */
import { INTERVAL_NAMES, type IntervalName } from '../../src/aggregation/intervals';
import { KlineBatch } from '../../src/aggregation/kline-batch';
import type { Kline } from '../../src/codec/records';
import { formatKline, parseKlinesArgs } from '../../src/cli/klines-command';
import { parseCommandArgs } from '../../src/cli/args';
import { KLINE_CSV_HEADER, klineCsvRow, klineRecordCsvRow } from '../../src/downstream/kline-csv';
import { UsageError } from '../../src/errors';

const KLINE: Kline = {
  symbol: 'BTCUSDT', interval: '1m', openTime: 1_680_652_680_000, closeTime: 1_680_652_739_999,
  open: 28145.1, high: 28153, low: 28140.5, close: 28153, volume: 88.38, quoteVolume: 2487528.0657, tradeCount: 954,
  takerBuyVolume: 54.202, takerBuyQuoteVolume: 1525589.742, firstTradeId: 100, lastTradeId: 1053, isFinal: true, version: 955,
};

describe('klineRecordCsvRow', () => {
  it('prints the SPEC columns in order', () => {
    expect(KLINE_CSV_HEADER.split(',')).toHaveLength(13);
    expect(klineRecordCsvRow(KLINE)).toBe('BTCUSDT,1m,1680652680000,28145.1,28153,28140.5,28153,88.38,1680652739999,2487528.0657,954,54.202,1525589.742');
  });

  it('prints plain decimals, never exponents', () => {
    expect(klineRecordCsvRow({ ...KLINE, volume: 1e-7, quoteVolume: 1e21 })).toContain(',0.0000001,1680652739999,1000000000000000000000,');
  });

  it('equals the aggregator row for the same kline (klines --final and aggregate print the same text)', () => {
    const batch = new KlineBatch(16);
    const samples: Kline[] = [KLINE, { ...KLINE, interval: '1M', open: 0.1 + 0.2, volume: 1e-9, tradeCount: 0, firstTradeId: -1, lastTradeId: -1 }];
    for (const k of samples) {
      batch.length = 1;
      batch.intervalId[0] = INTERVAL_NAMES.indexOf(k.interval as IntervalName);
      batch.openTime[0] = k.openTime;
      batch.closeTime[0] = k.closeTime;
      batch.open[0] = k.open;
      batch.high[0] = k.high;
      batch.low[0] = k.low;
      batch.close[0] = k.close;
      batch.volume[0] = k.volume;
      batch.quoteVolume[0] = k.quoteVolume;
      batch.tradeCount[0] = k.tradeCount;
      batch.takerBuyVolume[0] = k.takerBuyVolume;
      batch.takerBuyQuoteVolume[0] = k.takerBuyQuoteVolume;
      expect(klineRecordCsvRow(k)).toBe(klineCsvRow(batch, 0, k.symbol));
    }
  });

  it('json is one object with every Kline field', () => {
    expect(JSON.parse(formatKline(KLINE, 'json'))).toEqual(KLINE);
    expect(formatKline(KLINE, 'csv')).toBe(klineRecordCsvRow(KLINE));
  });
});

describe('klines options', () => {
  const spec = {
    symbol: { type: 'string' as const, multiple: true },
    interval: { type: 'string' as const, multiple: true },
    final: { type: 'boolean' as const },
    'from-beginning': { type: 'boolean' as const },
    format: { type: 'string' as const },
    'exit-at-end': { type: 'boolean' as const },
  };
  const parse = (argv: string[]) => parseKlinesArgs(parseCommandArgs('klines', argv, spec));

  it('repeated and comma-separated symbols and intervals', () => {
    expect(parse(['--symbol', 'BTCUSDT', '--symbol', 'ETHUSDT,SOLUSDT', '--interval', '1m,1M', '--final', '--format', 'csv'])).toEqual({
      symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'], intervals: ['1m', '1M'], finalOnly: true, fromBeginning: false, format: 'csv', exitAtEnd: false,
    });
    expect(parse(['--from-beginning', '--exit-at-end'])).toEqual({
      symbols: undefined, intervals: undefined, finalOnly: false, fromBeginning: true, format: 'json', exitAtEnd: true,
    });
  });

  it.each([
    [['--format', 'xml']],
    [['--interval', '7m']],
    [['--interval', '1m,']],
    [['--symbol', '']],
    [['--symbol', 'BTC USDT']],
    [['extra']],
    [['--bogus']],
  ])('%j is a usage error (exit 2)', (argv) => {
    let error: unknown;
    try {
      parse(argv);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
  });
});
