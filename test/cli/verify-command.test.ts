/**
 * verify's command line: symbol and interval selection, the window and its default (the last hour), times
 * in every accepted form, and usage errors (exit 2) that say what is wrong.
 */
import { parseCommandArgs } from '../../src/cli/args';
import { parseTime, parseVerifyArgs } from '../../src/cli/verify-command';

const NOW = Date.UTC(2026, 0, 2, 12, 0, 0);
const OPTIONS = {
  symbol: { type: 'string', multiple: true }, all: { type: 'boolean' }, interval: { type: 'string', multiple: true },
  from: { type: 'string' }, to: { type: 'string' }, format: { type: 'string' }, 'max-klines': { type: 'string' },
} as const;
const parse = (argv: string[]): ReturnType<typeof parseVerifyArgs> => parseVerifyArgs(parseCommandArgs('verify', argv, OPTIONS), NOW);

it('defaults: the last hour, every configured interval, text', () => {
  expect(parse(['--symbol', 'BTCUSDT'])).toEqual({ symbols: ['BTCUSDT'], intervals: undefined, from: NOW - 3_600_000, to: NOW, format: 'text', maxKlines: 200_000 });
  expect(parse(['--all', '--interval', 'all']).symbols).toBeUndefined();
  expect(parse(['--symbol', 'A,B', '--symbol', 'C', '--interval', '1m,5m', '--format', 'json'])).toMatchObject({ symbols: ['A', 'B', 'C'], intervals: ['1m', '5m'], format: 'json' });
});

it('times: epoch ms, ISO 8601, now and now-<n><unit>; --from defaults to an hour before --to', () => {
  expect(parseTime('to', '1721347080000', NOW)).toBe(1721347080000);
  expect(parseTime('to', '2024-07-18T23:58Z', NOW)).toBe(1721347080000);
  expect(parseTime('to', 'now-90m', NOW)).toBe(NOW - 90 * 60_000);
  expect(parseTime('to', 'now-2d', NOW)).toBe(NOW - 2 * 86_400_000);
  expect(parse(['--all', '--to', '1721347080000'])).toMatchObject({ from: 1721347080000 - 3_600_000, to: 1721347080000 });
});

it.each([
  [[], /give --symbol S or --all/],
  [['--all', '--symbol', 'X'], /exclude each other/],
  [['--symbol', 'btcusdt'], /not an exchange symbol/],
  [['--all', '--interval', '7m'], /unknown --interval "7m"/],
  [['--all', '--interval', 'all,1m'], /all excludes other intervals/],
  [['--all', '--from', 'yesterday'], /--from "yesterday" is not a time/],
  [['--all', '--from', '1000'], /implausible/],
  [['--all', '--from', 'now', '--to', 'now-1h'], /is not before --to/],
  [['--all', '--format', 'xml'], /--format must be text or json/],
  [['--all', '--max-klines', '0'], /--max-klines must be a positive integer/],
  [['--all', 'extra'], /Unexpected argument 'extra'/],
])('usage error %j', (argv, message) => {
  expect(() => parse(argv)).toThrow(message);
  try {
    parse(argv);
  } catch (e) {
    expect((e as { exitCode: number }).exitCode).toBe(2);
  }
});
