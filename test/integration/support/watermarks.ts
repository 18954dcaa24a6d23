/**
 * Watermark checks over a `trades` topic read back in partition order (see trades-topic.ts).
 *
 * A WATERMARK record W on partition p promises that every trade of p the producer will still write is not
 * older than W in exchange event time. `watermarkViolations` checks it against the exchange's truth: walking
 * each partition in offset order, the highest watermark seen so far must not exceed the exchange event time
 * E (the frame's, from the stand-in) of any trade that comes after it, trades that came through a REST
 * backfill included (their record carries T for E; the check uses the exchange's E).
 */
import type { StandinTrade } from '../../support/exchange-standin';
import type { TopicContent, TradeRecord } from './trades-topic';

export interface WatermarkViolation {
  partition: number;
  offset: number;
  symbol: string;
  aggId: number;
  eventTime: number;
  watermark: number;
  watermarkOffset: number;
}

/** Exchange event time per symbol and id. */
export function eventTimes(expected: Map<string, readonly StandinTrade[]>): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const [s, list] of expected) out.set(s, new Map(list.map((t) => [t.aggId, t.eventTime])));
  return out;
}

export function watermarkViolations(content: TopicContent, expected: Map<string, readonly StandinTrade[]>, toleranceMs = 0): WatermarkViolation[] {
  const times = eventTimes(expected);
  const out: WatermarkViolation[] = [];
  for (const list of content.trades) {
    let max = -Infinity;
    let maxOffset = -1;
    for (const r of list) {
      if (r.kind === 'WATERMARK') {
        if (r.tradeTime > max) {
          max = r.tradeTime;
          maxOffset = r.offset;
        }
        continue;
      }
      const symbol = content.symbols.byIndex.get(r.symbolIndex)?.symbol ?? `#${r.symbolIndex}`;
      const e = times.get(symbol)?.get(r.aggId) ?? r.eventTime;
      if (e + toleranceMs < max) out.push({ partition: r.partition, offset: r.offset, symbol, aggId: r.aggId, eventTime: e, watermark: max, watermarkOffset: maxOffset });
    }
  }
  return out;
}

/** Watermark records of `partition` at or after `fromOffset` (e.g. those a restarted producer wrote). */
export function watermarksFrom(content: TopicContent, partition: number, fromOffset: number): TradeRecord[] {
  return content.watermarks[partition]!.filter((w) => w.offset >= fromOffset);
}
