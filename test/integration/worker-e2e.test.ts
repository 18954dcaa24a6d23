/**
 * Real data end to end: the recorded frames in shared/data/binance through `produce --source file:`,
 * `work --until-caught-up` and `klines --final` equal the exchange's own klines exactly (the datasets the
 * aggregator test uses), and equal what `aggregate` prints offline for the same frames.
 */
import * as path from 'node:path';
import { binanceDataDir } from '../support/data-dir';
import { DATASETS, compareWithExchange, readExchangeKlines, type OurKline } from '../support/exchange-klines';
import type { Kline } from '../../src/codec/records';
import { runCli } from './helpers';
import { appEnv, appPrefix, deleteApp, expectOk, finalsOf, klineKey } from './pipeline-helpers';

const framesFile = (dataset: string) => path.join(binanceDataDir(), dataset, 'aggtrade-frames.jsonl.gz');
const datasets = [...new Set(DATASETS.map((d) => d.dataset))];
const prefixes = new Map(datasets.map((d) => [d, appPrefix(`e2e-${d.slice(0, 12)}`)]));
const finals = new Map<string, Kline[]>();

function exchangeColumns(k: Kline): OurKline {
  return {
    open_time: k.openTime, open: k.open, high: k.high, low: k.low, close: k.close, volume: k.volume, close_time: k.closeTime,
    quote_volume: k.quoteVolume, count: k.tradeCount, taker_buy_volume: k.takerBuyVolume, taker_buy_quote_volume: k.takerBuyQuoteVolume,
  };
}

beforeAll(async () => {
  // One app per dataset, in parallel: each is produce -> work -> klines, as a user runs them.
  await Promise.all(datasets.map(async (dataset) => {
    const env = appEnv(prefixes.get(dataset)!, { KLINESTREAM_PARTITIONS: '3' });
    const produced = await expectOk(runCli(['produce', '--source', `file:${framesFile(dataset)}`], env), `produce ${dataset}`);
    expect(produced.stderr).toMatch(/ 0 malformed/);
    await expectOk(runCli(['work', '--until-caught-up'], env), `work ${dataset}`);
    finals.set(dataset, await finalsOf(env));
  }));
}, 240_000);

afterAll(async () => {
  await Promise.all([...prefixes.values()].map((p) => deleteApp(p)));
});

describe.each(DATASETS)('produce | work | klines --final: $dataset $interval', ({ dataset, interval, partialFirst, expectedMatches }) => {
  it('equals the exchange klines exactly', () => {
    const ours = finals.get(dataset)!.filter((k) => k.interval === interval).map(exchangeColumns);
    const expected = readExchangeKlines(dataset, interval);
    const from = partialFirst ? expected[1]!.openTime : -Infinity;
    const result = compareWithExchange(expected, ours, from);
    expect(result.mismatches).toEqual([]);
    expect(result.matched).toBe(expectedMatches);
  });
});

it.each(datasets)('%s: every final of every interval equals `aggregate` of the same frames', async (dataset) => {
  const r = await expectOk(runCli(['aggregate', '--source', `file:${framesFile(dataset)}`, '--format', 'json']), 'aggregate');
  const offline = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Kline);
  const byKey = new Map(offline.map((k) => [klineKey(k), k]));
  const ours = finals.get(dataset)!;
  expect(ours.length).toBe(offline.length);
  for (const k of ours) expect(k).toEqual(byKey.get(klineKey(k)));
});
