/**
 * `exchangeInfo` answers in the exchange's shape: USD-M (`/fapi/v1/exchangeInfo`) and spot
 * (`/api/v3/exchangeInfo`). Only the fields a market-data client reads are meaningful (symbol, status,
 * contractType, base/quote asset, precisions, PRICE_FILTER / LOT_SIZE); the rest is there so the answer
 * looks like the real one, with plausible constant values.
 */
import type { Market, SymbolInfo } from './options';

const QUOTES = ['FDUSD', 'USDT', 'USDC', 'BUSD', 'TUSD', 'USD', 'BTC', 'ETH', 'BNB', 'EUR', 'TRY', 'BRL', 'DAI'];
const PERPETUAL_DELIVERY = 4133404800000;
const YEAR_MS = 365 * 86_400_000;

/** The asset split of a symbol: longest known quote suffix (`BTCUSDT_260626` -> BTC / USDT). */
export function splitSymbol(symbol: string): { base: string; quote: string } {
  const pair = symbol.split('_')[0]!;
  let quote = '';
  for (const q of QUOTES) if (pair.endsWith(q) && pair.length > q.length && q.length > quote.length) quote = q;
  if (quote === '') quote = pair.length > 4 ? pair.slice(-4) : 'USDT';
  return { base: pair.slice(0, pair.length - quote.length) || pair, quote };
}

/** 10^-d as the exchange writes it: `decimals(2) = "0.01"`, padded to `width` decimals when given. */
function step(d: number, width?: number): string {
  const s = d === 0 ? '1' : `0.${'0'.repeat(d - 1)}1`;
  if (width === undefined || width <= d) return s;
  return d === 0 ? `1.${'0'.repeat(width)}` : `${s}${'0'.repeat(width - d)}`;
}

export interface ResolvedSymbol {
  symbol: string;
  status: string;
  contractType: string;
  pair: string;
  baseAsset: string;
  quoteAsset: string;
  pricePrecision: number;
  quantityPrecision: number;
  deliveryDate: number;
  onboardDate: number;
}

export function resolveSymbol(info: SymbolInfo, derived: { pricePrecision?: number; quantityPrecision?: number; onboardDate: number }): ResolvedSymbol {
  const { base, quote } = splitSymbol(info.symbol);
  return {
    symbol: info.symbol,
    status: info.status ?? 'TRADING',
    contractType: info.contractType ?? 'PERPETUAL',
    pair: info.pair ?? info.symbol.split('_')[0]!,
    baseAsset: info.baseAsset ?? base,
    quoteAsset: info.quoteAsset ?? quote,
    pricePrecision: info.pricePrecision ?? derived.pricePrecision ?? 2,
    quantityPrecision: info.quantityPrecision ?? derived.quantityPrecision ?? 3,
    deliveryDate: info.deliveryDate ?? PERPETUAL_DELIVERY,
    onboardDate: info.onboardDate ?? derived.onboardDate,
  };
}

export function defaultOnboardDate(timelineStart: number): number {
  return Math.max(0, Math.floor(timelineStart / 86_400_000) * 86_400_000 - YEAR_MS);
}

function usdmSymbol(s: ResolvedSymbol): Record<string, unknown> {
  const tick = step(s.pricePrecision);
  const lot = step(s.quantityPrecision);
  return {
    symbol: s.symbol,
    pair: s.pair,
    contractType: s.contractType,
    deliveryDate: s.deliveryDate,
    onboardDate: s.onboardDate,
    status: s.status,
    maintMarginPercent: '2.5000',
    requiredMarginPercent: '5.0000',
    baseAsset: s.baseAsset,
    quoteAsset: s.quoteAsset,
    marginAsset: s.quoteAsset,
    pricePrecision: s.pricePrecision,
    quantityPrecision: s.quantityPrecision,
    baseAssetPrecision: 8,
    quotePrecision: 8,
    underlyingType: 'COIN',
    underlyingSubType: [],
    settlePlan: 0,
    triggerProtect: '0.0500',
    liquidationFee: '0.012500',
    marketTakeBound: '0.05',
    maxMoveOrderLimit: 10000,
    filters: [
      { filterType: 'PRICE_FILTER', minPrice: tick, maxPrice: '4529764', tickSize: tick },
      { filterType: 'LOT_SIZE', minQty: lot, maxQty: '1000', stepSize: lot },
      { filterType: 'MARKET_LOT_SIZE', minQty: lot, maxQty: '120', stepSize: lot },
      { filterType: 'MAX_NUM_ORDERS', limit: 200 },
      { filterType: 'MAX_NUM_ALGO_ORDERS', limit: 10 },
      { filterType: 'MIN_NOTIONAL', notional: '100' },
      { filterType: 'PERCENT_PRICE', multiplierUp: '1.0500', multiplierDown: '0.9500', multiplierDecimal: '4' },
    ],
    orderTypes: ['LIMIT', 'MARKET', 'STOP', 'STOP_MARKET', 'TAKE_PROFIT', 'TAKE_PROFIT_MARKET', 'TRAILING_STOP_MARKET'],
    timeInForce: ['GTC', 'IOC', 'FOK', 'GTX', 'GTD'],
  };
}

function spotSymbol(s: ResolvedSymbol): Record<string, unknown> {
  const tick = step(s.pricePrecision, 8);
  const lot = step(s.quantityPrecision, 8);
  return {
    symbol: s.symbol,
    status: s.status,
    baseAsset: s.baseAsset,
    baseAssetPrecision: 8,
    quoteAsset: s.quoteAsset,
    quotePrecision: 8,
    quoteAssetPrecision: 8,
    baseCommissionPrecision: 8,
    quoteCommissionPrecision: 8,
    orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT'],
    icebergAllowed: true,
    ocoAllowed: true,
    otoAllowed: true,
    quoteOrderQtyMarketAllowed: true,
    allowTrailingStop: true,
    cancelReplaceAllowed: true,
    isSpotTradingAllowed: true,
    isMarginTradingAllowed: false,
    filters: [
      { filterType: 'PRICE_FILTER', minPrice: tick, maxPrice: '1000000.00000000', tickSize: tick },
      { filterType: 'LOT_SIZE', minQty: lot, maxQty: '9000000.00000000', stepSize: lot },
    ],
    permissions: [],
    permissionSets: [['SPOT']],
    defaultSelfTradePreventionMode: 'EXPIRE_MAKER',
    allowedSelfTradePreventionModes: ['EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH', 'DECREMENT'],
  };
}

export function exchangeInfoBody(market: Market, serverTime: number, weightLimit: number, symbols: readonly ResolvedSymbol[]): string {
  if (market === 'usdm') {
    return JSON.stringify({
      timezone: 'UTC',
      serverTime,
      futuresType: 'U_MARGINED',
      rateLimits: [
        { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: weightLimit },
        { rateLimitType: 'ORDERS', interval: 'MINUTE', intervalNum: 1, limit: 1200 },
        { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 300 },
      ],
      exchangeFilters: [],
      assets: [...new Set(symbols.map((s) => s.quoteAsset))].map((asset) => ({ asset, marginAvailable: true, autoAssetExchange: '-10000' })),
      symbols: symbols.map(usdmSymbol),
    });
  }
  return JSON.stringify({
    timezone: 'UTC',
    serverTime,
    rateLimits: [
      { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: weightLimit },
      { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
      { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: 200000 },
      { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 61000 },
    ],
    exchangeFilters: [],
    symbols: symbols.map(spotSymbol),
  });
}
