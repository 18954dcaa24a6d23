import fc from 'fast-check';
import {
  AggTradeFrameParser,
  FrameResult,
  createAggTradeRecord,
  type AggTradeRecord,
} from '../../src/exchange/aggtrade-frame';

// A real frame (USD-M BTCUSDT, first line of btcusdt-usdm-2023-04-04/aggtrade-frames.jsonl.gz).
const COMBINED =
  '{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1680652700455,"s":"BTCUSDT","a":3535186032,"p":"28145.10","q":"0.002","f":3535186032,"l":3535186032,"T":1680652700452,"m":true}}';
// A real bare spot frame with the extra "M" field (ws-recordings-2021, spot BTCUSDT).
const BARE_SPOT =
  '{"e":"aggTrade","E":1617566591315,"s":"BTCUSDT","a":665076760,"p":"58001.03000000","q":"0.08620500","f":745522877,"l":745522877,"T":1617566591314,"m":true,"M":true}';

const KNOWN_COMBINED: AggTradeRecord = {
  symbol: 'BTCUSDT',
  aggId: 3535186032,
  firstTradeId: 3535186032,
  lastTradeId: 3535186032,
  price: 28145.1,
  quantity: 0.002,
  tradeTime: 1680652700452,
  eventTime: 1680652700455,
  isBuyerMaker: true,
};

/** A valid aggTrade payload to mutate field by field. */
function payload(overrides: Record<string, unknown> = {}, omit: string[] = []): Record<string, unknown> {
  const base: Record<string, unknown> = {
    e: 'aggTrade', E: 1680652700455, s: 'BTCUSDT', a: 3535186032, p: '28145.10', q: '0.002',
    f: 3535186032, l: 3535186035, T: 1680652700452, m: false,
  };
  for (const k of omit) delete base[k];
  return { ...base, ...overrides };
}

function combined(data: Record<string, unknown>, stream = 'btcusdt@aggTrade'): string {
  return JSON.stringify({ stream, data });
}

describe('AggTradeFrameParser: valid frames', () => {
  const parser = new AggTradeFrameParser();

  test('combined-stream frame: every field of a known real frame', () => {
    const out = createAggTradeRecord();
    expect(parser.parse(COMBINED, out)).toBe(FrameResult.OK);
    expect(out).toEqual(KNOWN_COMBINED);
    expect(parser.reason).toBe('');
    expect(parser.kind).toBe('');
  });

  test('bare spot frame with an unknown extra field ("M") is accepted and the field ignored', () => {
    const out = createAggTradeRecord();
    expect(parser.parse(BARE_SPOT, out)).toBe(FrameResult.OK);
    expect(out).toEqual({
      symbol: 'BTCUSDT', aggId: 665076760, firstTradeId: 745522877, lastTradeId: 745522877,
      price: 58001.03, quantity: 0.086205, tradeTime: 1617566591314, eventTime: 1617566591315, isBuyerMaker: true,
    });
  });

  test('Buffer and Uint8Array input give the same record as the string', () => {
    const fromBuffer = createAggTradeRecord();
    const fromBytes = createAggTradeRecord();
    expect(parser.parse(Buffer.from(COMBINED), fromBuffer)).toBe(FrameResult.OK);
    // A Uint8Array that is a window into a larger buffer (offset != 0), as a socket would hand over.
    const big = new TextEncoder().encode(`xxxx${COMBINED}yyyy`);
    expect(parser.parse(big.subarray(4, big.length - 4), fromBytes)).toBe(FrameResult.OK);
    expect(fromBuffer).toEqual(KNOWN_COMBINED);
    expect(fromBytes).toEqual(KNOWN_COMBINED);
  });

  test('price and quantity are the nearest double of the decimal text', () => {
    const out = createAggTradeRecord();
    const p = '0.00141342';
    const q = '123456789.123456789';
    expect(parser.parse(combined(payload({ p, q })), out)).toBe(FrameResult.OK);
    expect(out.price).toBe(Number(p));
    expect(out.quantity).toBe(Number(q));
  });

  test('stream name is matched to the symbol ignoring ASCII case; delivery-contract and caseless-script symbols pass', () => {
    const out = createAggTradeRecord();
    expect(parser.parse(combined(payload(), 'BTCUSDT@aggTrade'), out)).toBe(FrameResult.OK);
    expect(parser.parse(combined(payload({ s: 'BTCUSDT_250926' }), 'btcusdt_250926@aggTrade'), out)).toBe(FrameResult.OK);
    expect(out.symbol).toBe('BTCUSDT_250926');
    expect(parser.parse(combined(payload({ s: '币安人生USDT' }), '币安人生usdt@aggTrade'), out)).toBe(FrameResult.OK);
    expect(out.symbol).toBe('币安人生USDT');
    expect(parser.parse(JSON.stringify(payload({ s: '1000PEPEUSDT' })), out)).toBe(FrameResult.OK);
  });

  test('boundary values: id 0, the largest safe integer, f == l', () => {
    const out = createAggTradeRecord();
    const max = Number.MAX_SAFE_INTEGER;
    expect(parser.parse(JSON.stringify(payload({ a: 0, f: 7, l: 7, T: 0, E: max })), out)).toBe(FrameResult.OK);
    expect(out).toMatchObject({ aggId: 0, firstTradeId: 7, lastTradeId: 7, tradeTime: 0, eventTime: max });
  });

  test('JSON -0 is accepted as a plain 0', () => {
    const out = createAggTradeRecord();
    expect(parser.parse(JSON.stringify(payload()).replace('"a":3535186032', '"a":-0'), out)).toBe(FrameResult.OK);
    expect(Object.is(out.aggId, 0)).toBe(true);
  });
});

describe('AggTradeFrameParser: frames of other kinds are NOT_AGGTRADE with their kind', () => {
  const cases: Array<[string, string, string]> = [
    ['combined kline (real)',
      '{"stream":"swrvbusd@kline_1m","data":{"e":"kline","E":1618677373907,"s":"SWRVBUSD","k":{"t":1618677360000,"T":1618677419999,"s":"SWRVBUSD","i":"1m","f":1135631,"L":1135631,"o":"2.27700000","c":"2.27700000","h":"2.27700000","l":"2.27700000","v":"9.82600000","n":1,"x":false,"q":"22.37380200","V":"0.00000000","Q":"0.00000000","B":"0"}}}',
      'kline'],
    ['combined trade (real)',
      '{"stream":"btcusdt@trade","data":{"e":"trade","E":1680652700455,"T":1680652700452,"s":"BTCUSDT","t":3535186032,"p":"28145.10","q":"0.002","X":"MARKET","m":true}}',
      'trade'],
    ['subscription reply', '{"result":null,"id":1}', 'reply'],
    ['error reply', '{"error":{"code":2,"msg":"Invalid request: unknown variant"},"id":1}', 'error'],
    ['bare depth update', '{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}', 'depthUpdate'],
    ['combined depth update', '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}}', 'depthUpdate'],
    ['bare spot bookTicker (no "e")', '{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}', 'bookTicker'],
    ['combined spot bookTicker (no "e")', '{"stream":"bnbusdt@bookTicker","data":{"u":400900217,"s":"BNBUSDT","b":"25.35","B":"31.21","a":"25.36","A":"40.66"}}', 'bookTicker'],
    ['futures bookTicker', '{"e":"bookTicker","u":400900217,"E":1568014460893,"T":1568014460891,"s":"BNBUSDT","b":"25.35","B":"31.21","a":"25.36","A":"40.66"}', 'bookTicker'],
    ['combined partial depth (no "e")', '{"stream":"btcusdt@depth5@100ms","data":{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[]}}', 'depth5@100ms'],
    ['bare partial depth (no "e")', '{"lastUpdateId":160,"bids":[],"asks":[]}', 'depth'],
    ['all-market mini tickers (array)', '[{"e":"24hrMiniTicker","E":1,"s":"BTCUSDT","c":"1","o":"1","h":"1","l":"1","v":"1","q":"1"}]', '24hrMiniTicker'],
  ];
  test('an overlong event type is clipped in the kind', () => {
    const parser = new AggTradeFrameParser();
    expect(parser.parse(`{"e":"${'k'.repeat(5000)}"}`, createAggTradeRecord())).toBe(FrameResult.NOT_AGGTRADE);
    expect(parser.kind).toBe('k'.repeat(40) + '...');
  });

  test.each(cases)('%s', (_name, frame, kind) => {
    const parser = new AggTradeFrameParser();
    const out = createAggTradeRecord();
    expect(parser.parse(frame, out)).toBe(FrameResult.NOT_AGGTRADE);
    expect(parser.kind).toBe(kind);
    expect(parser.reason).toBe('');
    expect(out).toEqual(createAggTradeRecord());
  });
});

describe('AggTradeFrameParser: malformed frames name the problem', () => {
  const cases: Array<[string, string | Uint8Array, string | RegExp]> = [
    ['not JSON', 'abc', /^not JSON: Unexpected token 'a', "abc" is not valid JSON$/],
    ['truncated JSON', COMBINED.slice(0, 60), /^not JSON: /],
    ['empty', '', /^not JSON: Unexpected end of JSON input$/],
    ['invalid UTF-8', Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'not UTF-8 text'],
    ['a number', '42', 'not a JSON object: 42'],
    ['null', 'null', 'not a JSON object: null'],
    ['a string', '"aggTrade"', 'not a JSON object: "aggTrade"'],
    ['an array of non-events', '[1,2]', 'a JSON array, not an aggTrade frame'],
    ['empty object', '{}', 'field "e" missing'],
    ['stream not a string', '{"stream":5,"data":{}}', 'field "stream" is not a string: 5'],
    ['stream without data', '{"stream":"btcusdt@aggTrade"}', 'combined-stream frame without field "data"'],
    ['data not an object', '{"stream":"btcusdt@aggTrade","data":"x"}', 'field "data" is not an object: "x"'],
    ['aggTrade stream, no "e"', combined(payload({}, ['e'])), 'field "e" missing'],
    ['"e" not a string', JSON.stringify(payload({ e: 1 })), 'field "e" is not a string: 1'],
    ['aggTrade stream carrying a kline', combined(payload({ e: 'kline' })), 'stream "btcusdt@aggTrade" carries event "kline"'],
    ['kline stream carrying an aggTrade', combined(payload(), 'btcusdt@kline_1m'), 'stream "btcusdt@kline_1m" carries event "aggTrade"'],
    ['stream of another symbol', combined(payload(), 'ethusdt@aggTrade'), 'stream "ethusdt@aggTrade" does not match symbol "BTCUSDT"'],
    ['symbol missing', JSON.stringify(payload({}, ['s'])), 'field "s" missing'],
    ['symbol lowercase', JSON.stringify(payload({ s: 'btcusdt' })), 'field "s" (symbol) is not an exchange symbol: "btcusdt"'],
    ['symbol empty', JSON.stringify(payload({ s: '' })), 'field "s" (symbol) is not an exchange symbol: ""'],
    ['symbol with a space', JSON.stringify(payload({ s: 'BTC USDT' })), 'field "s" (symbol) is not an exchange symbol: "BTC USDT"'],
    ['symbol a number', JSON.stringify(payload({ s: 5 })), 'field "s" (symbol) is not an exchange symbol: 5'],
    ['aggId missing', JSON.stringify(payload({}, ['a'])), 'field "a" missing'],
    ['aggId a string', JSON.stringify(payload({ a: '123' })), 'field "a" (aggId) is not a number: "123"'],
    ['aggId fractional', JSON.stringify(payload({ a: 1.5 })), 'field "a" (aggId) is not a safe integer: 1.5'],
    ['aggId negative', JSON.stringify(payload({ a: -1 })), 'field "a" (aggId) is negative: -1'],
    ['aggId above 2^53', combined(payload()).replace('"a":3535186032', '"a":9007199254740993'), 'field "a" (aggId) is not a safe integer: 9007199254740992'],
    ['aggId overflowing to Infinity', combined(payload()).replace('"a":3535186032', '"a":1e400'), 'field "a" (aggId) is not a safe integer: Infinity'],
    ['firstTradeId missing', JSON.stringify(payload({}, ['f'])), 'field "f" missing'],
    ['lastTradeId null', JSON.stringify(payload({ l: null })), 'field "l" (lastTradeId) is not a number: null'],
    ['firstTradeId > lastTradeId', JSON.stringify(payload({ f: 5, l: 3 })), 'firstTradeId 5 > lastTradeId 3'],
    ['tradeTime fractional', JSON.stringify(payload({ T: 1.5 })), 'field "T" (tradeTime) is not a safe integer: 1.5'],
    ['eventTime missing', JSON.stringify(payload({}, ['E'])), 'field "E" missing'],
    ['price missing', JSON.stringify(payload({}, ['p'])), 'field "p" missing'],
    ['price not decimal', JSON.stringify(payload({ p: 'abc' })), 'field "p" (price) is not a decimal string: "abc"'],
    ['price negative', JSON.stringify(payload({ p: '-1.5' })), 'field "p" (price) is not a decimal string: "-1.5"'],
    ['price in exponent notation', JSON.stringify(payload({ p: '1e5' })), 'field "p" (price) is not a decimal string: "1e5"'],
    ['price with blanks', JSON.stringify(payload({ p: ' 1.0' })), 'field "p" (price) is not a decimal string: " 1.0"'],
    ['price empty', JSON.stringify(payload({ p: '' })), 'field "p" (price) is not a decimal string: ""'],
    ['price a JSON number', JSON.stringify(payload({ p: 28145.1 })), 'field "p" (price) must be a decimal string as the exchange sends it, got number 28145.1'],
    ['price zero', JSON.stringify(payload({ p: '0.00' })), 'price must be > 0, got "0.00"'],
    ['price overflowing', JSON.stringify(payload({ p: '1' + '0'.repeat(400) })), `field "p" (price) is not finite: "1${'0'.repeat(59)}..."`],
    ['quantity zero', JSON.stringify(payload({ q: '0' })), 'quantity must be > 0, got "0"'],
    ['quantity an object', JSON.stringify(payload({ q: { v: 1 } })), 'field "q" (quantity) must be a decimal string as the exchange sends it, got an object'],
    ['isBuyerMaker missing', JSON.stringify(payload({}, ['m'])), 'field "m" missing'],
    ['isBuyerMaker a string', JSON.stringify(payload({ m: 'true' })), 'field "m" (isBuyerMaker) is not a boolean: "true"'],
    ['isBuyerMaker a number', JSON.stringify(payload({ m: 1 })), 'field "m" (isBuyerMaker) is not a boolean: 1'],
  ];
  test.each(cases)('%s', (_name, frame, expected) => {
    const parser = new AggTradeFrameParser();
    const out = createAggTradeRecord();
    out.symbol = 'UNTOUCHED';
    expect(parser.parse(frame, out)).toBe(FrameResult.MALFORMED);
    if (typeof expected === 'string') expect(parser.reason).toBe(expected);
    else expect(parser.reason).toMatch(expected);
    expect(parser.kind).toBe('');
    // A rejected frame leaves the caller's record as it was.
    expect(out).toEqual({ ...createAggTradeRecord(), symbol: 'UNTOUCHED' });
  });

  test('the reason of one frame does not leak into the next', () => {
    const parser = new AggTradeFrameParser();
    const out = createAggTradeRecord();
    expect(parser.parse('{}', out)).toBe(FrameResult.MALFORMED);
    expect(parser.parse(COMBINED, out)).toBe(FrameResult.OK);
    expect(parser.reason).toBe('');
  });

  test('huge and deeply nested input is reported, not thrown, and the reason stays short', () => {
    const parser = new AggTradeFrameParser();
    const out = createAggTradeRecord();
    for (const frame of ['['.repeat(1_000_000), '{"a":'.repeat(200_000), 'x'.repeat(20_000_000), `{"e":"aggTrade","s":"${'A'.repeat(1_000_000)}"}`]) {
      expect(parser.parse(frame, out)).toBe(FrameResult.MALFORMED);
      expect(parser.reason.length).toBeGreaterThan(0);
      expect(parser.reason.length).toBeLessThanOrEqual(243);
    }
  });
});

describe('AggTradeFrameParser: properties', () => {
  const results: number[] = [FrameResult.OK, FrameResult.NOT_AGGTRADE, FrameResult.MALFORMED];

  function checkNoThrow(frame: string | Uint8Array): void {
    const parser = new AggTradeFrameParser();
    const out = createAggTradeRecord();
    const r = parser.parse(frame, out);
    expect(results).toContain(r);
    if (r === FrameResult.MALFORMED) expect(parser.reason).not.toBe('');
  }

  test('random strings never throw', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), checkNoThrow), { numRuns: 2000 });
  });

  test('random bytes never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), checkNoThrow), { numRuns: 2000 });
  });

  test('random JSON values never throw', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => checkNoThrow(JSON.stringify(v) ?? 'undefined')), { numRuns: 1000 });
  });

  test('a real frame with one random edit (cut, replaced or inserted text) never throws', () => {
    const edit = fc.tuple(fc.nat({ max: COMBINED.length }), fc.nat({ max: 8 }), fc.string({ unit: 'binary', maxLength: 8 }));
    fc.assert(fc.property(edit, ([at, cut, insert]) => {
      checkNoThrow(COMBINED.slice(0, at) + insert + COMBINED.slice(at + cut));
    }), { numRuns: 3000 });
  });

  // Each field is either valid or an arbitrary JSON value (or absent). Whatever the mix, the parser must
  // either reject the frame and leave the record alone, or accept it with exactly the values it carried.
  test('fields of any type: OK only with exactly the frame values, otherwise the record is untouched', () => {
    const anything = fc.oneof(fc.jsonValue(), fc.constant(undefined));
    const id = fc.oneof({ weight: 4, arbitrary: fc.nat() }, { weight: 1, arbitrary: anything });
    const dec = fc.oneof({ weight: 4, arbitrary: fc.double({ min: 1e-8, max: 1e9, noNaN: true }).map((d) => d.toFixed(8)) }, { weight: 1, arbitrary: anything });
    const frameArb = fc.record({
      e: fc.oneof({ weight: 6, arbitrary: fc.constant('aggTrade') }, { weight: 1, arbitrary: anything }),
      E: id, s: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('BTCUSDT', 'XRPETH') }, { weight: 1, arbitrary: anything }),
      a: id, p: dec, q: dec, f: id, l: id, T: id,
      m: fc.oneof({ weight: 4, arbitrary: fc.boolean() }, { weight: 1, arbitrary: anything }),
    });
    let accepted = 0;
    let rejected = 0;
    fc.assert(fc.property(frameArb, fc.boolean(), (d, wrap) => {
      const text = wrap && typeof d.s === 'string' ? JSON.stringify({ stream: `${d.s.toLowerCase()}@aggTrade`, data: d }) : JSON.stringify(d);
      const parser = new AggTradeFrameParser();
      const out = createAggTradeRecord();
      const r = parser.parse(text, out);
      if (r === FrameResult.OK) accepted++;
      else rejected++;
      if (r === FrameResult.OK) {
        // What the frame text says (JSON.stringify turns -0 into 0, for instance).
        const sent = JSON.parse(text) as Record<string, unknown>;
        const v = (wrap ? sent.data : sent) as Record<string, unknown>;
        expect(out).toEqual({
          symbol: v.s, aggId: v.a, firstTradeId: v.f, lastTradeId: v.l, price: Number(v.p), quantity: Number(v.q),
          tradeTime: v.T, eventTime: v.E, isBuyerMaker: v.m,
        });
        expect(Object.is(out.aggId, -0)).toBe(false);
        expect(out.price).toBeGreaterThan(0);
        expect(out.quantity).toBeGreaterThan(0);
        expect(out.firstTradeId).toBeLessThanOrEqual(out.lastTradeId);
      } else {
        expect(out).toEqual(createAggTradeRecord());
      }
      // Every frame whose fields are all well-formed must be accepted.
      const isId = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
      const isPositiveDecimal = (v: unknown): boolean => typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) && Number(v) > 0;
      const wellFormed = d.e === 'aggTrade' && (d.s === 'BTCUSDT' || d.s === 'XRPETH') && [d.E, d.a, d.f, d.l, d.T].every(isId)
        && isPositiveDecimal(d.p) && isPositiveDecimal(d.q) && typeof d.m === 'boolean' && (d.f as number) <= (d.l as number);
      if (wellFormed) expect(r).toBe(FrameResult.OK);
    }), { numRuns: 3000 });
    // Both branches were exercised, so the property is not vacuously true.
    expect(accepted).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(100);
  });
});
