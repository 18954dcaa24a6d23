/**
 * Malformed and foreign frames for `garbageLines`, modelled on a real trade (`near`, the trade pushed right
 * after it) so they look like the stream they are injected into. None of them is an acceptable aggTrade
 * frame: each is NOT_AGGTRADE or MALFORMED for the project's parser, except `microsecond-times`, a
 * well-formed copy of `near` whose T and E are in microseconds, which the producer's time rules reject
 * (docs/times.md).
 */
import type { GarbageKind } from './options';
import type { LoadedTrade } from './timeline';

function wrap(stream: string, payload: string, combined: boolean): string {
  return combined ? `{"stream":${JSON.stringify(stream)},"data":${payload}}` : payload;
}

export const DEFAULT_OVERSIZE_BYTES = 2 * 1024 * 1024;

export function renderGarbage(kind: GarbageKind, near: LoadedTrade, combined: boolean, oversizeBytes: number): string {
  const data = JSON.parse(near.payload) as Record<string, unknown>;
  switch (kind) {
    case 'not-json': {
      // A frame cut off in the middle, as a broken proxy would deliver it.
      const full = wrap(near.stream, near.payload, combined);
      return full.slice(0, Math.max(10, Math.floor(full.length / 2)));
    }
    case 'missing-field':
      delete data.q;
      return wrap(near.stream, JSON.stringify(data), combined);
    case 'number-price':
      data.p = Number(near.price);
      return wrap(near.stream, JSON.stringify(data), combined);
    case 'negative-quantity':
      data.q = `-${near.quantity}`;
      return wrap(near.stream, JSON.stringify(data), combined);
    case 'unknown-event': {
      const minute = Math.floor(near.tradeTime / 60_000) * 60_000;
      const kline = {
        e: 'kline',
        E: near.eventTime,
        s: near.symbol,
        k: {
          t: minute, T: minute + 59_999, s: near.symbol, i: '1m', f: near.firstTradeId, L: near.lastTradeId,
          o: near.price, c: near.price, h: near.price, l: near.price, v: near.quantity, n: 1, x: false,
          q: near.quantity, V: '0', Q: '0', B: '0',
        },
      };
      return wrap(`${near.symbol.toLowerCase()}@kline_1m`, JSON.stringify(kline), combined);
    }
    case 'oversized': {
      const head = `{"e":"oversizedPayload","E":${near.eventTime},"s":${JSON.stringify(near.symbol)},"blob":"`;
      const pad = Math.max(0, oversizeBytes - head.length - 2);
      return wrap(`${near.symbol.toLowerCase()}@oversized`, `${head}${'A'.repeat(pad)}"}`, combined);
    }
    case 'subscription-reply':
      return '{"result":null,"id":4242}';
    case 'microsecond-times':
      data.T = near.tradeTime * 1000;
      data.E = near.eventTime * 1000;
      return wrap(near.stream, JSON.stringify(data), combined);
  }
}
