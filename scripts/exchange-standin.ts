/**
 * The exchange stand-in as a standalone process, for black-box tests that run the CLI separately.
 *
 * Why here: `npm run build` (tsconfig.build.json) compiles src/ and scripts/ only, so this file becomes
 * dist/scripts/exchange-standin.js and the implementation, in scripts/exchange-standin/, is compiled with it.
 * Tests in the same process import the implementation through test/support/exchange-standin.ts instead.
 *
 *   node dist/scripts/exchange-standin.js [CONFIG.json] [--file PATH]... [--market usdm|spot]
 *        [--speed N|max|manual] [--align start|none] [--shift-to now|EPOCH_MS] [--shift-unit-ms N]
 *        [--play-on start|first-subscription|call] [--port N] [--seed N] [--ping-interval-ms N]
 *
 * CONFIG.json is an ExchangeStandinOptions object (without rest.now); relative `files` paths are relative
 * to the config file; `"shiftTo": "now"` is allowed. Flags override it (`--file` replaces its files). The
 * default playOn here is 'start'.
 *
 * stdout, one JSON object per line:
 *   {"wsBaseUrl":"ws://127.0.0.1:PORT","restBaseUrl":"http://127.0.0.1:PORT","port":..,"market":..,
 *    "timelineStart":..,"timelineEnd":..,"trades":..,"symbols":[..]}        once listening
 *   {"event":"finished","tradesReleased":N}                                 once every trade is released
 * The server keeps answering (REST history, new connections) until SIGTERM or SIGINT, then closes cleanly
 * and exits 0. Bad usage or configuration: message on stderr, exit 2; other failures: exit 1.
 * Control endpoints for tests (cut, stall, expected trades, ...) are listed in exchange-standin/standin.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KlinestreamError } from '../src/errors';
import { ExchangeStandin, type ExchangeStandinOptions, type Speed } from './exchange-standin/index';

class Usage extends Error {}

const USAGE =
  'usage: exchange-standin [CONFIG.json] [--file PATH]... [--market usdm|spot] [--speed N|max|manual] [--align start|none] ' +
  '[--shift-to now|EPOCH_MS] [--shift-unit-ms N] [--play-on start|first-subscription|call] [--port N] [--seed N] [--ping-interval-ms N]';

function int(flag: string, v: string): number {
  if (!/^[0-9]+$/.test(v)) throw new Usage(`${flag} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

function shiftTo(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (v === 'now') return Date.now();
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return int('--shift-to', v);
  throw new Usage(`shiftTo must be "now" or epoch ms, got ${JSON.stringify(v)}`);
}

export function parseArgs(argv: readonly string[]): ExchangeStandinOptions {
  let options: Partial<ExchangeStandinOptions> = {};
  let rawShiftTo: unknown;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Usage(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--file': files.push(value()); break;
      case '--market': options.market = value() as ExchangeStandinOptions['market']; break;
      case '--speed': {
        const v = value();
        options.speed = (v === 'max' || v === 'manual' ? v : Number(v)) as Speed;
        if (typeof options.speed === 'number' && !(options.speed > 0)) throw new Usage(`--speed must be a positive number, max or manual, got ${JSON.stringify(v)}`);
        break;
      }
      case '--align': options.align = value() as ExchangeStandinOptions['align']; break;
      case '--shift-to': rawShiftTo = value(); break;
      case '--shift-unit-ms': options.shiftUnitMs = int(a, value()); break;
      case '--play-on': options.playOn = value() as ExchangeStandinOptions['playOn']; break;
      case '--port': options.port = int(a, value()); break;
      case '--seed': options.seed = int(a, value()); break;
      case '--ping-interval-ms': options.pingIntervalMs = int(a, value()); break;
      case '--help': case '-h': throw new Usage(USAGE);
      default: {
        if (a.startsWith('-')) throw new Usage(`unknown option ${a}\n${USAGE}`);
        if (Object.keys(options).length > 0 || files.length > 0) throw new Usage(`the config file must come first\n${USAGE}`);
        let parsed: unknown;
        try {
          parsed = JSON.parse(fs.readFileSync(a, 'utf8'));
        } catch (e) {
          throw new Usage(`cannot read config ${a}: ${e instanceof Error ? e.message : String(e)}`);
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Usage(`config ${a} must hold a JSON object`);
        options = parsed as typeof options;
        rawShiftTo = (parsed as { shiftTo?: unknown }).shiftTo;
        const dir = path.dirname(path.resolve(a));
        options.files = (options.files ?? []).map((f) => (typeof f === 'string' ? path.resolve(dir, f) : { ...f, path: path.resolve(dir, f.path) }));
      }
    }
  }
  if (files.length > 0) options.files = files;
  if (options.files === undefined || options.files.length === 0) throw new Usage(`no frames file: give a config with "files" or --file PATH\n${USAGE}`);
  return { playOn: 'start', ...options, shiftTo: shiftTo(rawShiftTo), files: options.files };
}

async function main(): Promise<number> {
  let options: ExchangeStandinOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`exchange-standin: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  // Listen for the stop signals before anything else, so an early SIGTERM still ends in a clean close.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  let ex: ExchangeStandin;
  try {
    ex = await ExchangeStandin.start(options);
  } catch (e) {
    process.stderr.write(`exchange-standin: ${e instanceof Error ? e.message : String(e)}\n`);
    process.removeAllListeners('SIGTERM').removeAllListeners('SIGINT');
    if (e instanceof KlinestreamError) return e.exitCode;
    return e instanceof RangeError || e instanceof TypeError ? 2 : 1;
  }
  const info = ex.timelineInfo;
  process.stdout.write(`${JSON.stringify({
    wsBaseUrl: ex.wsBaseUrl, restBaseUrl: ex.restBaseUrl, port: ex.port, market: ex.market,
    timelineStart: info.start, timelineEnd: info.end, trades: info.trades, symbols: info.symbols,
  })}\n`);
  void ex.finished.then(() => process.stdout.write(`${JSON.stringify({ event: 'finished', tradesReleased: ex.stats.tradesReleased })}\n`));
  await stopped;
  await ex.close();
  return 0;
}

/** Runs the command line of this process and sets process.exitCode (for loaders that cannot use require.main). */
export function runMain(): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`exchange-standin: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) runMain();
