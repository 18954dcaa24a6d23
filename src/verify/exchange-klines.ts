/**
 * The exchange's klines over REST (USD-M `/fapi/v1/klines`, spot `/api/v3/klines`), through the project's
 * REST client (src/exchange/binance-rest.ts): its paced weight budget, the `X-MBX-USED-WEIGHT-1M` header and
 * the 429/418 pauses apply to these requests like to backfills.
 *
 * Pages: `startTime` + `endTime` + `limit` 1000, the next page from the last open time + 1, until a page is
 * short or passes the window. 1000 is the weight-cheapest page on both markets (USD-M weight 5 for
 * [500, 1000], 10 above; spot 2 for any limit).
 *
 * Every row is checked where it enters: 12 elements, integer times with openTime < closeTime, inside the
 * asked window and ascending, plain non-negative decimal strings, an integer count. A row that is not is
 * EXCHANGE_BAD_ANSWER naming the row and the problem (never a silent skip: a verification that drops rows
 * would report them as missing at the exchange).
 */
import { KlinestreamError, UsageError } from '../errors';
import type { BinanceRest } from '../exchange/binance-rest';
import type { Market } from '../config/config';
import type { ExchangeKline } from './compare-klines';

export const KLINES_PAGE = 1000;
const DECIMAL = /^[0-9]{1,40}(?:\.[0-9]{1,40})?$/;

export function klinesWeight(market: Market, limit: number): number {
  if (market === 'spot') return 2;
  return limit < 100 ? 1 : limit < 500 ? 2 : limit <= 1000 ? 5 : 10;
}

function bad(url: string, problem: string, row: unknown): KlinestreamError {
  return new KlinestreamError('EXCHANGE_BAD_ANSWER', `exchange klines answer from ${url}: ${problem}`, {
    url,
    problem,
    row: JSON.stringify(row)?.slice(0, 200),
  });
}

/** One answer's rows, checked; `after` = the open time the rows must come after (ascending). */
export function parseKlineRows(url: string, json: unknown, window: { startTime: number; endTime: number }): ExchangeKline[] {
  if (!Array.isArray(json)) throw bad(url, 'not a JSON array', json);
  const out: ExchangeKline[] = [];
  let prev = -Infinity;
  json.forEach((row: unknown, i) => {
    const where = `row ${i}`;
    if (!Array.isArray(row) || row.length < 11) throw bad(url, `${where} is not an array of at least 11 elements`, row);
    const r = row as unknown[];
    const [openTime, , , , , , closeTime, , count] = r;
    if (typeof openTime !== 'number' || !Number.isSafeInteger(openTime) || typeof closeTime !== 'number' || !Number.isSafeInteger(closeTime)) {
      throw bad(url, `${where}: open and close times must be integers (epoch ms)`, row);
    }
    if (!(openTime < closeTime)) throw bad(url, `${where}: close time ${closeTime} is not after open time ${openTime}`, row);
    if (openTime < window.startTime || openTime > window.endTime) throw bad(url, `${where}: open time ${openTime} is outside the asked [${window.startTime}, ${window.endTime}]`, row);
    if (openTime <= prev) throw bad(url, `${where}: open time ${openTime} does not ascend (previous ${prev})`, row);
    prev = openTime;
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) throw bad(url, `${where}: trade count is not a non-negative integer`, row);
    const decimal = (index: number, name: string): string => {
      const v = r[index];
      if (typeof v !== 'string' || !DECIMAL.test(v)) throw bad(url, `${where}: ${name} is not a decimal string`, row);
      return v;
    };
    out.push({
      openTime,
      closeTime,
      open: decimal(1, 'open'),
      high: decimal(2, 'high'),
      low: decimal(3, 'low'),
      close: decimal(4, 'close'),
      volume: decimal(5, 'volume'),
      quoteVolume: decimal(7, 'quote volume'),
      tradeCount: count,
      takerBuyVolume: decimal(9, 'taker buy volume'),
      takerBuyQuoteVolume: decimal(10, 'taker buy quote volume'),
    });
  });
  return out;
}

/**
 * The exchange's klines of one symbol and interval with open time in [from, to) and close time < to (the
 * ones final by `to`), in open-time order. `maxKlines` bounds what is held: more is an error.
 */
export async function fetchExchangeKlines(
  rest: BinanceRest,
  market: Market,
  q: { symbol: string; interval: string; from: number; to: number; maxKlines: number },
): Promise<ExchangeKline[]> {
  const out: ExchangeKline[] = [];
  const endTime = q.to - 1;
  let startTime = q.from;
  while (startTime <= endTime) {
    const params = { symbol: q.symbol, interval: q.interval, startTime: String(startTime), endTime: String(endTime), limit: String(KLINES_PAGE) };
    const { url, json } = await rest.get('/klines', params, klinesWeight(market, KLINES_PAGE), 'klines');
    const rows = parseKlineRows(url, json, { startTime, endTime });
    for (const k of rows) if (k.closeTime < q.to) out.push(k);
    if (out.length > q.maxKlines) {
      throw new UsageError(`verify: the exchange has more than ${q.maxKlines} ${q.symbol} ${q.interval} klines in the window; narrow --from/--to or raise --max-klines`);
    }
    if (rows.length < KLINES_PAGE) break;
    startTime = rows[rows.length - 1]!.openTime + 1;
  }
  return out;
}
