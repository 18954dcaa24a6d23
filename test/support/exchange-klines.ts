/**
 * The exchange's own klines from shared/data/binance, and a comparison that reports every field that differs.
 * CSV decimals are parsed to the nearest double; "exact" means our double equals it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { binanceDataDir } from './data-dir';

export interface ExchangeKline {
  openTime: number;
  fields: Record<string, number>;
}

/** Column name in the exchange CSV -> the same value in one of our klines. */
export type OurKline = Record<'open' | 'high' | 'low' | 'close' | 'volume' | 'close_time' | 'quote_volume' | 'count' | 'taker_buy_volume' | 'taker_buy_quote_volume', number> & { open_time: number };

export function readExchangeKlines(dataset: string, interval: string): ExchangeKline[] {
  const text = fs.readFileSync(path.join(binanceDataDir(), dataset, `klines-${interval}.csv`), 'utf8').trim().split('\n');
  const header = text[0]!.split(',');
  return text.slice(1).map((row) => {
    const values = row.split(',');
    const fields: Record<string, number> = {};
    header.forEach((h, i) => {
      if (h !== 'ignore' && h !== 'open_time') fields[h] = Number(values[i]);
    });
    return { openTime: Number(values[0]), fields };
  });
}

export interface Comparison {
  matched: number;
  /** Exchange klines we did not produce as final (e.g. the window's unclosed last minute). */
  missing: number[];
  mismatches: string[];
}

/** Compares every exchange kline whose open time is at or after `from` with ours. */
export function compareWithExchange(expected: ExchangeKline[], ours: OurKline[], from = -Infinity): Comparison {
  const byOpen = new Map(ours.map((k) => [k.open_time, k]));
  const result: Comparison = { matched: 0, missing: [], mismatches: [] };
  for (const e of expected) {
    if (e.openTime < from) continue;
    const k = byOpen.get(e.openTime);
    if (!k) {
      result.missing.push(e.openTime);
      continue;
    }
    const diffs = Object.entries(e.fields)
      .filter(([name, v]) => k[name as keyof OurKline] !== v)
      .map(([name, v]) => `${name}: exchange ${v}, ours ${k[name as keyof OurKline]}`);
    if (diffs.length > 0) result.mismatches.push(`${e.openTime}: ${diffs.join('; ')}`);
    else result.matched++;
  }
  return result;
}

/**
 * The datasets with the exchange's klines. `partialFirst`: the first minute starts before the recorded trades
 * (so it is not comparable); `expectedMatches`: every other kline but the last, which no later trade closes.
 */
export const DATASETS = [
  { dataset: 'xrpeth-spot-2019-10-11', interval: '1m', partialFirst: false, expectedMatches: 3559, onlyOhlcv: true },
  { dataset: 'xrpeth-spot-2019-10-11', interval: '5m', partialFirst: false, expectedMatches: 711, onlyOhlcv: true },
  { dataset: 'btcusdt-usdm-2023-04-04', interval: '1m', partialFirst: true, expectedMatches: 7, onlyOhlcv: false },
  { dataset: 'btcusdt-usdm-2024-07-18', interval: '1m', partialFirst: true, expectedMatches: 7, onlyOhlcv: false },
  { dataset: 'btcusdt-usdm-2024-08-08', interval: '1m', partialFirst: true, expectedMatches: 4, onlyOhlcv: false },
] as const;
