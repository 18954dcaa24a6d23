/**
 * The byte-level fast path (aggtrade-scan.ts) against the JSON.parse path of AggTradeFrameParser: for every
 * input both must give the same result code, the same record (bit for bit) on OK, the same untouched record
 * otherwise, and the same reason and kind. The fast path is allowed to decline; it must not differ.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { AggTradeFrameParser, FrameResult, createAggTradeRecord, type AggTradeRecord } from '../../src/exchange/aggtrade-frame';
import { FrameFileReader } from '../../src/exchange/frame-file';
import { binanceDataDir } from '../support/data-dir';

const FIELDS: Array<keyof AggTradeRecord> = ['symbol', 'aggId', 'firstTradeId', 'lastTradeId', 'price', 'quantity', 'tradeTime', 'eventTime', 'isBuyerMaker'];

/** A record no frame produces, so that "untouched" is visible. */
function sentinel(): AggTradeRecord {
  return { symbol: '?', aggId: -7, firstTradeId: -7, lastTradeId: -7, price: -0, quantity: NaN, tradeTime: -7, eventTime: -7, isBuyerMaker: true };
}

const fast = new AggTradeFrameParser();
const slow = new AggTradeFrameParser({ fastPath: false });
const fastOut = createAggTradeRecord();
const slowOut = createAggTradeRecord();

/** Parses with both parsers; returns a description of the first difference, or '' when identical. */
function differs(frame: string | Uint8Array): string {
  Object.assign(fastOut, sentinel());
  Object.assign(slowOut, sentinel());
  const a = fast.parse(frame, fastOut);
  const b = slow.parse(frame, slowOut);
  if (a !== b) return `result ${a} vs ${b} (${slow.reason})`;
  if (fast.reason !== slow.reason) return `reason ${JSON.stringify(fast.reason)} vs ${JSON.stringify(slow.reason)}`;
  if (fast.kind !== slow.kind) return `kind ${JSON.stringify(fast.kind)} vs ${JSON.stringify(slow.kind)}`;
  for (const f of FIELDS) if (!Object.is(fastOut[f], slowOut[f])) return `${f}: ${String(fastOut[f])} vs ${String(slowOut[f])}`;
  return '';
}

function expectSame(frame: string | Uint8Array): void {
  const d = differs(frame);
  if (d !== '') throw new Error(`${d} for ${JSON.stringify(typeof frame === 'string' ? frame : Buffer.from(frame).toString('latin1'))}`);
}

/** Both as a string and as bytes (a Buffer view into a larger buffer, as the file reader yields them). */
function expectSameBoth(text: string): void {
  expectSame(text);
  const padded = Buffer.from(`xx${text}yy`, 'utf8');
  expectSame(padded.subarray(2, padded.length - 2));
}

describe('fast path on the real recordings', () => {
  const DATA = binanceDataDir();
  const files: string[] = [];
  for (const dir of fs.readdirSync(DATA)) {
    const full = path.join(DATA, dir);
    if (!fs.statSync(full).isDirectory()) continue;
    for (const f of fs.readdirSync(full)) if (/\.(jsonl\.gz|txt)$/.test(f)) files.push(path.join(full, f));
  }

  test('the data folder has aggTrade recordings', () => {
    expect(files.filter((f) => /aggtrade-frames.*\.jsonl\.gz$/.test(f)).length).toBeGreaterThanOrEqual(4);
  });

  test.each(files.map((f) => [path.relative(DATA, f), f]))('%s: identical results, and the fast path reads every aggTrade frame', async (_name, file) => {
    const before = fast.fastPathFrames;
    let ok = 0;
    let frames = 0;
    for await (const line of new FrameFileReader(file)) {
      if (line.oversizeBytes > 0) continue;
      frames++;
      expectSame(line.frame);
      if (slow.parse(line.frame, slowOut) === FrameResult.OK) ok++;
      expectSame(line.frame.toString('utf8'));
    }
    expect(frames).toBeGreaterThan(0);
    // Every aggTrade frame of every recorded layout goes through the fast path (twice: bytes and string).
    expect(fast.fastPathFrames - before).toBe(2 * ok);
    if (/aggtrade-frames/.test(file)) expect(ok).toBe(frames);
  }, 60_000);
});

// ---- generated frames

const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });

/** JSON text for an id/time field: mostly valid, plus every near-miss the general path treats specially. */
const intText = fc.oneof(
  { weight: 40, arbitrary: fc.nat().map(String) },
  { weight: 4, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 54n }).map(String) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('0', '-0', '-1', '9007199254740991', '9007199254740992', '9007199254740993', '9999999999999999', '1000000000000000',
      '10000000000000000', '00', '01', '1.0', '1.5', '1e3', '1E+3', '0e0', '-', '1.', '.5', '123456789012345678901234', '"1"', 'true', 'null', '[]', '{}'),
  },
  { weight: 1, arbitrary: fc.tuple(digits(1, 18), fc.constantFrom('', '.0', '.25', 'e2', 'e-2', 'E+1')).map(([d, s]) => d + s) },
);

/** JSON text for a price/quantity field. */
const decText = fc.oneof(
  { weight: 30, arbitrary: fc.tuple(digits(1, 9), digits(0, 10)).map(([a, b]) => `"${a}${b === '' ? '' : '.' + b}"`) },
  { weight: 3, arbitrary: fc.tuple(digits(1, 24), digits(1, 26)).map(([a, b]) => `"${a}.${b}"`) },
  { weight: 10, arbitrary: fc.double({ min: 1e-10, max: 1e12, noNaN: true }).map((d) => `"${d.toFixed(8)}"`) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('"0"', '"0.0"', '"0.00000000"', '"-1.5"', '"+1"', '".5"', '"5."', '"1e5"', '"1E-5"', '" 1"', '"1 "', '"1,5"', '"0x10"',
      '"Infinity"', '"NaN"', '""', '1.5', '100', 'null', 'true', '"\\u0031.5"', '"999999999999999"', '"9999999999999999"', '"0.000000000000000000001"',
      '"0.0000000000000000000001"', '"0.00000000000000000000001"', '"123456789012345.1"', '"0.1234567890123456789"', `"1${'0'.repeat(400)}"`, `"0.${'0'.repeat(30)}1"`),
  },
);

const symbolText = fc.oneof(
  { weight: 40, arbitrary: fc.constantFrom('"BTCUSDT"', '"XRPETH"', '"BTCUSDT_250926"', '"1000PEPEUSDT"', '"ETHUSDT"') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('""', '"btcusdt"', '"BTCusdt"', '"BTC-USDT"', '"BTC USDT"', '"\\u0042TCUSDT"', '"币安人生USDT"', '"ÄBC"', `"${'A'.repeat(40)}"`,
      `"${'A'.repeat(41)}"`, 'null', '123', '["BTCUSDT"]'),
  },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'ABCXYZ019_a-é'), minLength: 0, maxLength: 12 }).map((s) => JSON.stringify(s)) },
);

const anyJson = fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? 'null');

const valueFor: Record<string, fc.Arbitrary<string>> = {
  e: fc.oneof(
    { weight: 40, arbitrary: fc.constant('"aggTrade"') },
    { weight: 2, arbitrary: fc.constantFrom('"trade"', '"kline"', '"aggtrade"', '"aggTrade "', '"agg\\u0054rade"', 'null', '1', '""') },
  ),
  E: intText, a: intText, f: intText, T: intText,
  // mostly above any generated "f", so that f <= l holds often enough for OK frames
  l: fc.oneof({ weight: 3, arbitrary: fc.nat().map((n) => String(n + 2 ** 31)) }, { weight: 1, arbitrary: intText }),
  s: symbolText,
  p: decText, q: decText,
  m: fc.oneof({ weight: 40, arbitrary: fc.constantFrom('true', 'false') }, { weight: 1, arbitrary: fc.constantFrom('"true"', '1', '0', 'null', 'tru', 'falsey') }),
};
const REQUIRED = Object.keys(valueFor);

/** Fields that are not part of an aggTrade record. */
const extraField = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('"M":true', '"M":false', '"nq":"0.123"', '"X":"MARKET"', '"X":"INSURANCE_FUND"', '"x":null', '"n":-1.5e-3', '"n":0', '"n":12E+2') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('"k":{"t":1}', '"k":[1,2]', '"stream":"btcusdt@aggTrade"', '"data":{}', '"id":1', '"result":null', '"__proto__":{"s":"ETHUSDT"}', '"":1',
      '"e\\u0078":1', '"\\"":1', '"é":"é"', '"nq":"caf\\u00e9"', '"n":01', '"n":1.', '"n":-', '"n":1e', '"n":.5', '"n":+1', '"n":"\u0001"'),
  },
  fc.tuple(fc.string({ unit: fc.constantFrom(...'abMXnq_'), minLength: 1, maxLength: 4 }), anyJson).map(([k, v]) => `${JSON.stringify(k)}:${v}`),
);

const field = (k: string) => valueFor[k]!.map((v) => `"${k}":${v}`);

/** A payload as a list of `"key":value` texts: the required keys (some dropped or repeated), extras, any order. */
const payloadFields = fc
  .tuple(
    fc.subarray(REQUIRED, { minLength: REQUIRED.length - 1 }).chain((keys) => fc.tuple(...keys.map(field))),
    fc.array(extraField, { maxLength: 3 }),
    fc.array(fc.constantFrom(...REQUIRED).chain(field), { maxLength: 1 }),
  )
  .chain(([req, extra, dup]) => fc.shuffledSubarray([...req, ...extra, ...dup], { minLength: req.length + extra.length + dup.length }));

/** The exchange's own key orders (USD-M, spot with "M"), each value random. */
const exchangeOrder = fc
  .tuple(fc.constantFrom(['e', 'E', 's', 'a', 'p', 'q', 'f', 'l', 'T', 'm'], ['e', 'E', 'a', 's', 'p', 'q', 'f', 'l', 'T', 'm']), fc.boolean())
  .chain(([order, withM]) => fc.tuple(...order.map(field)).map((parts) => (withM ? [...parts, '"M":true'] : parts)));

/** Joins with separators that are mostly tight, sometimes JSON whitespace or something invalid. */
const separators = fc.array(fc.oneof({ weight: 100, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom(' ', '\n', '\t', '\r', '  ', '\u00a0', 'x') }), {
  minLength: 40,
  maxLength: 40,
});

function objectText(parts: string[], ws: string[], at: number): string {
  let s = `{${ws[at % ws.length]}`;
  parts.forEach((p, i) => {
    const w = ws[(at + i + 1) % ws.length]!;
    // whitespace around the colon, too
    const colon = p.indexOf('":');
    const q = colon >= 0 && w !== '' && i % 2 === 1 ? `${p.slice(0, colon + 1)}${w}:${w}${p.slice(colon + 2)}` : p;
    s += (i === 0 ? '' : `,${w}`) + q;
  });
  return `${s}${ws[(at + 3) % ws.length]}}`;
}

const streamText = fc.oneof(
  { weight: 6, arbitrary: fc.constant('MATCH') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('"btcusdt@aggTrade"', '"BTCUSDT@aggTrade"', '"xrpeth@aggTrade"', '"btcusdt@aggtrade"', '"btcusdt@trade"', '"btcusdt@kline_1m"',
      '"@aggTrade"', '"btcusdt"', '"btcusdt@aggTrade@aggTrade"', '"btcusdt\\u0040aggTrade"', '"bTcUsDt@aggTrade"', '"b tcusdt@aggTrade"', '1', 'null'),
  },
);

const frameText = fc
  .record({
    parts: fc.oneof({ weight: 3, arbitrary: exchangeOrder }, { weight: 3, arbitrary: payloadFields }),
    ws: separators,
    at: fc.nat(39),
    shape: fc.constantFrom('combined', 'combined', 'combined', 'bare', 'bare', 'data-first', 'extra-root', 'array'),
    stream: streamText,
    trail: fc.constantFrom('', '', '', '', '', '', '', '', '', ' ', '\n', 'x', '}', '\ufeff'),
    lead: fc.constantFrom('', '', '', '', '', '', '', '', '', ' ', '\ufeff', '\t'),
  })
  .map(({ parts, ws, at, shape, stream, trail, lead }) => {
    const data = objectText(parts, ws, at);
    let streamValue: string = stream;
    if (stream === 'MATCH') {
      const s = parts.find((p) => p.startsWith('"s":'));
      const sym = s === undefined ? 'btcusdt' : (JSON.parse(s.slice(4)) as unknown);
      streamValue = JSON.stringify(`${typeof sym === 'string' ? sym.toLowerCase() : 'btcusdt'}@aggTrade`);
    }
    let frame: string;
    if (shape === 'combined') frame = `{"stream":${streamValue},"data":${data}}`;
    else if (shape === 'data-first') frame = `{"data":${data},"stream":${streamValue}}`;
    else if (shape === 'extra-root') frame = `{"stream":${streamValue},"data":${data},"x":1}`;
    else if (shape === 'array') frame = `[${data}]`;
    else frame = data;
    return lead + frame + trail;
  });

describe('fast path on generated frames: identical to the JSON.parse path', () => {
  test('frames with random values, key orders, whitespace, escapes, missing/extra/repeated/mistyped fields', () => {
    const before = fast.fastPathFrames;
    fc.assert(fc.property(frameText, (text) => expectSameBoth(text)), { numRuns: 20_000 });
    // Not a vacuous comparison: thousands of the generated frames (counted as string and as bytes) took the
    // fast path (about a quarter of those the JSON.parse path accepts; the rest have whitespace, exponents,
    // more than 15 significant digits and such, which the fast path declines on purpose).
    expect(fast.fastPathFrames - before).toBeGreaterThan(1_000);
  });

  test('a generated frame with one random byte-level edit', () => {
    const edit = fc.tuple(frameText, fc.nat(), fc.nat({ max: 3 }), fc.uint8Array({ maxLength: 3 }));
    fc.assert(
      fc.property(edit, ([text, at, cut, insert]) => {
        const bytes = Buffer.from(text, 'utf8');
        const i = at % (bytes.length + 1);
        const edited = Buffer.concat([bytes.subarray(0, i), Buffer.from(insert), bytes.subarray(Math.min(bytes.length, i + cut))]);
        expectSame(edited);
        expectSame(edited.toString('latin1'));
      }),
      { numRuns: 10_000 },
    );
  });

  test('prices and quantities: the same double as Number() for random decimal texts', () => {
    const before = fast.fastPathFrames;
    const dec = fc.tuple(digits(1, 20), fc.option(digits(1, 25), { nil: undefined })).map(([a, b]) => (b === undefined ? a : `${a}.${b}`));
    fc.assert(
      fc.property(dec, dec, (p, q) =>
        expectSameBoth(`{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","a":2,"p":"${p}","q":"${q}","f":3,"l":4,"T":5,"m":false}}`),
      ),
      { numRuns: 20_000 },
    );
    expect(fast.fastPathFrames - before).toBeGreaterThan(2_000);
  });

  test('edge cases one by one', () => {
    const base = (data: string) => `{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1712188800123,"s":"BTCUSDT",${data},"T":1712188800120,"m":true}}`;
    const cases = [
      base('"a":9007199254740991,"p":"0.1","q":"0.3","f":0,"l":9007199254740991'),
      base('"a":9007199254740992,"p":"0.1","q":"0.3","f":0,"l":1'),
      base('"a":1,"p":"999999999999999","q":"0.000000000000001","f":1,"l":1'),
      base('"a":1,"p":"9999999999999999","q":"0.0000000000000000000001","f":1,"l":1'),
      base('"a":1,"p":"69000.10","q":"0.005","f":5,"l":4'),
      base('"a":1,"p":"00069000.10000","q":"0.005","f":5,"l":5'),
      base('"a":-0,"p":"1","q":"1","f":0,"l":0'),
      base('"a":0,"p":"1","q":"1","f":0,"l":0'),
      '{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true}',
      '{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true,"stream":"btcusdt@aggTrade"}',
      '{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true,"stream":"x"}}',
      '{"stream":"ethusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true}}',
      '{"result":null,"id":1}',
      '{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{}}}',
      '{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true}\u2028',
      '{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true,"M":"\ud800"}',
      '',
      '{',
      '{}',
    ];
    for (const c of cases) expectSameBoth(c);
    // Invalid UTF-8 inside an ignored string value, and a byte-order mark before the frame.
    expectSame(Buffer.concat([Buffer.from('{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true,"M":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]));
    expectSame(Buffer.from('\ufeff{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true}', 'utf8'));
    // A long string frame (beyond the fast path's string limit) and many symbols (interning table collisions).
    expectSameBoth(`{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true,"x":"${'y'.repeat(5000)}"}`);
    for (let i = 0; i < 5000; i++) {
      const sym = `S${i.toString(36).toUpperCase()}USDT`;
      expectSameBoth(`{"stream":"${sym.toLowerCase()}@aggTrade","data":{"e":"aggTrade","E":1,"s":"${sym}","a":${i},"p":"1.${i}","q":"${i}.5","f":1,"l":2,"T":1,"m":false}}`);
    }
  });
});
