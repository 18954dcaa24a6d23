/**
 * The exchange's klines through the project's REST client, against the stand-in: pages of 1000 in order,
 * only the klines final by `to`, the endpoint's weight paid and seen in the used-weight header, a 429 waited
 * out, and rows that are not plausible refused with the row named.
 */
import * as path from 'node:path';
import { MARKETS } from '../../src/config/config';
import { BinanceRest } from '../../src/exchange/binance-rest';
import { createLogger } from '../../src/observability/log';
import { fetchExchangeKlines, parseKlineRows } from '../../src/verify/exchange-klines';
import { binanceDataDir } from '../support/data-dir';
import { ExchangeStandin } from '../support/exchange-standin';

jest.setTimeout(60_000);

const XRP = path.join(binanceDataDir(), 'xrpeth-spot-2019-10-11/aggtrade-frames.jsonl.gz');
const FIRST = 1570752000000;
const MINUTE = 60_000;

let ex: ExchangeStandin | undefined;
let rest: BinanceRest | undefined;
afterEach(async () => {
  rest?.close();
  await ex?.close();
  ex = undefined;
  rest = undefined;
});

async function setup(market: 'usdm' | 'spot'): Promise<{ ex: ExchangeStandin; rest: BinanceRest }> {
  ex = await ExchangeStandin.start({ files: [XRP], market, speed: 'max' });
  ex.play();
  await ex.finished;
  rest = new BinanceRest({ baseUrl: ex.restBaseUrl, paths: MARKETS[market].paths, weightPerMinute: MARKETS[market].paths.exchangeWeightLimitPerMinute, log: createLogger({ level: 'error', sink: { write: () => undefined } }) });
  return { ex, rest };
}

it('pages through 3,000 minutes in pages of 1000, ascending, keeping only klines closed before `to`', async () => {
  const { ex, rest } = await setup('usdm');
  const to = FIRST + 3000 * MINUTE + 30_000;
  const klines = await fetchExchangeKlines(rest, 'usdm', { symbol: 'XRPETH', interval: '1m', from: FIRST, to, maxKlines: 10_000 });
  expect(klines).toHaveLength(3000);
  expect(klines[0]!.openTime).toBe(FIRST);
  expect(klines.every((k, i) => k.openTime === FIRST + i * MINUTE)).toBe(true);
  const calls = ex.requests().filter((r) => r.endpoint === 'klines');
  expect(calls.map((c) => [c.query.limit, c.weight])).toEqual([['1000', 5], ['1000', 5], ['1000', 5], ['1000', 5]]);
  expect(calls[3]!.usedWeight).toBe(20);
  expect(rest.weightUsedThisMinute).toBeGreaterThanOrEqual(20);
});

it('spot pays weight 2 a page, and a 429 is waited out and retried', async () => {
  const { ex, rest } = await setup('spot');
  ex.failNextRequests(1, 'rate-limit', 'klines');
  const klines = await fetchExchangeKlines(rest, 'spot', { symbol: 'XRPETH', interval: '1h', from: FIRST, to: FIRST + 10 * 3_600_000, maxKlines: 100 });
  expect(klines).toHaveLength(10);
  const calls = ex.requests().filter((r) => r.endpoint === 'klines');
  expect(calls.map((c) => [c.status, c.weight])).toEqual([[429, 2], [200, 2]]);
});

it('more klines than maxKlines is a usage error, not a silent cut', async () => {
  const { rest } = await setup('usdm');
  await expect(fetchExchangeKlines(rest, 'usdm', { symbol: 'XRPETH', interval: '1m', from: FIRST, to: FIRST + 100 * MINUTE, maxKlines: 50 })).rejects.toThrow(/more than 50 XRPETH 1m klines/);
});

it('refuses implausible rows, naming the row and the problem', () => {
  const ok = [FIRST, '1.0', '1.0', '1.0', '1.0', '2.0', FIRST + 59_999, '2.0', 1, '0', '0', '0'];
  const w = { startTime: FIRST, endTime: FIRST + 10 * MINUTE };
  expect(parseKlineRows('u', [ok], w)).toHaveLength(1);
  expect(() => parseKlineRows('u', { code: -1 }, w)).toThrow(/not a JSON array/);
  expect(() => parseKlineRows('u', [ok.slice(0, 5)], w)).toThrow(/row 0 is not an array of at least 11/);
  expect(() => parseKlineRows('u', [[FIRST, 1.0, ...ok.slice(2)]], w)).toThrow(/row 0: open is not a decimal string/);
  expect(() => parseKlineRows('u', [[FIRST - MINUTE, ...ok.slice(1, 6), FIRST - 1, ...ok.slice(7)]], w)).toThrow(/outside the asked/);
  expect(() => parseKlineRows('u', [ok, ok], w)).toThrow(/row 1: open time \d+ does not ascend/);
  expect(() => parseKlineRows('u', [[...ok.slice(0, 8), -3, ...ok.slice(9)]], w)).toThrow(/trade count/);
  expect(() => parseKlineRows('u', [[...ok.slice(0, 5), '-2', ...ok.slice(6)]], w)).toThrow(/volume is not a decimal/);
});
