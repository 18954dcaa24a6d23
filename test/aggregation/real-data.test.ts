/**
 * Real exchange data: every kline the exchange published for the recorded spans is reproduced exactly from
 * the recorded aggTrade frames, through the module API (parser + aggregator, as the producer and workers use
 * them). XRPETH includes 1,091 minutes without a trade; BTCUSDT futures are compared on all ten fields.
 */
import * as path from 'node:path';
import { readAggTrades } from '../../src/exchange/frame-file';
import { FrameStats } from '../../src/exchange/frame-stats';
import type { KlineRecord } from '../../src/aggregation/kline-batch';
import { Harness } from '../support/aggregation-harness';
import { binanceDataDir } from '../support/data-dir';
import { DATASETS, compareWithExchange, readExchangeKlines, type OurKline } from '../support/exchange-klines';

function asExchangeColumns(k: KlineRecord): OurKline {
  return {
    open_time: k.openTime, open: k.open, high: k.high, low: k.low, close: k.close, volume: k.volume, close_time: k.closeTime,
    quote_volume: k.quoteVolume, count: k.tradeCount, taker_buy_volume: k.takerBuyVolume, taker_buy_quote_volume: k.takerBuyQuoteVolume,
  };
}

async function aggregate(dataset: string, interval: '1m' | '5m') {
  const h = new Harness({ intervals: [interval] }, 512);
  const stats = new FrameStats();
  let eventTime = -Infinity;
  let firstTime = NaN;
  let lastTime = NaN;
  for await (const t of readAggTrades(path.join(binanceDataDir(), dataset, 'aggtrade-frames.jsonl.gz'), stats)) {
    if (Number.isNaN(firstTime)) firstTime = t.tradeTime;
    lastTime = t.tradeTime;
    h.trade({ symbol: 0, aggId: t.aggId, firstId: t.firstTradeId, lastId: t.lastTradeId, price: t.price, qty: t.quantity, time: t.tradeTime, maker: t.isBuyerMaker });
    if (t.tradeTime > eventTime) h.watermark((eventTime = t.tradeTime));
  }
  h.drain();
  return { finals: h.finals(interval), firstTime, lastTime, stats, counters: h.agg.counters };
}

describe.each(DATASETS)('$dataset $interval klines', ({ dataset, interval, partialFirst, expectedMatches }) => {
  it('are reproduced exactly from the aggTrade frames', async () => {
    const { finals, firstTime, lastTime, stats, counters } = await aggregate(dataset, interval);
    expect(stats.malformed).toBe(0);
    expect(counters.duplicates + counters.lateTrades + counters.invalidTrades).toBe(0);
    const from = partialFirst ? Math.floor(firstTime / 60_000) * 60_000 + 60_000 : -Infinity;
    const result = compareWithExchange(readExchangeKlines(dataset, interval), finals.map(asExchangeColumns), from);
    expect(result.mismatches).toEqual([]);
    expect(result.matched).toBe(expectedMatches);
    // The klines we do not have are the one holding the last trade, which no later trade closes, and any the
    // exchange published after the recording ends.
    expect(result.missing.length).toBeGreaterThan(0);
    expect(result.missing.filter((open) => open + 60_000 * (interval === '5m' ? 5 : 1) <= lastTime)).toEqual([]);
  });
});

it('XRPETH: the minutes without trades are klines at the previous close', async () => {
  const { finals } = await aggregate('xrpeth-spot-2019-10-11', '1m');
  const empty = finals.filter((k) => k.tradeCount === 0);
  expect(empty.length).toBe(1091);
  for (const k of empty) expect([k.open, k.high, k.low, k.volume, k.firstTradeId, k.lastTradeId]).toEqual([k.close, k.close, k.close, 0, -1, -1]);
});
