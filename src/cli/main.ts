#!/usr/bin/env node
/**
 * The `klinestream` binary: one entry point, one subcommand per job (SPEC section 5).
 * Exit codes: 0 success, 2 bad usage or config (with a message saying what is wrong), 1 runtime failure.
 */
// First, before anything loads kafkajs: klinestream's fixes of kafkajs modules (see the module).
import '../kafka/kafkajs-patch';
import { isKlinestreamError, UsageError } from '../errors';
import { kafkajsProblem } from '../kafka/kafkajs-check';
import { COMMANDS, type Command } from './commands';
import { connectionFailureSentence, connectionOrigins } from './failure-sentence';
import { trackOpenHandles, type OpenHandleTracker } from '../observability/open-handles';

const handles: OpenHandleTracker | undefined = process.env.KLINESTREAM_DEBUG_OPEN_HANDLES === '1' ? trackOpenHandles() : undefined;

function usage(): string {
  const lines = ['Usage: klinestream <command> [options]', '', 'Commands:'];
  for (const c of COMMANDS) lines.push(`  ${c.usage.padEnd(72)} ${c.summary}`);
  lines.push('', 'Run `klinestream <command> --help` for the options of one command.');
  lines.push('Connection: KAFKA_BROKERS and SCHEMA_REGISTRY_URL (or --brokers / --schema-registry); unset = embedded local stack.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    process.stdout.write(`${(require('../../../package.json') as { version: string }).version}\n`);
    return 0;
  }
  const command: Command | undefined = COMMANDS.find((c) => c.name === name);
  try {
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}; run klinestream --help`);
    return await command.run(rest);
  } catch (caught) {
    // A service that cannot be reached or refuses the login: one sentence naming it and its setting.
    const e = connectionFailureSentence(caught, connectionOrigins(rest, process.env)) ?? caught;
    if (isKlinestreamError(e)) {
      process.stderr.write(`klinestream ${name}: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`klinestream ${name}: unexpected failure: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}

/**
 * How long a finished command may take to exit by itself. Commands close every client they open, but a
 * socket or timer left behind by a library (kafkajs reconnecting after a broker restart) would otherwise
 * keep the process alive forever: past this grace it says what is still open and exits with its code.
 */
const EXIT_GRACE_MS = 10_000;

function exitAfterGrace(code: number): void {
  process.exitCode = code;
  setTimeout(() => {
    const open = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
    process.stderr.write(`klinestream: still running ${EXIT_GRACE_MS / 1000} s after the command finished (open: ${open.join(', ') || 'nothing named'}); exiting with code ${code}\n`);
    if (handles !== undefined) process.stderr.write(`klinestream: where the open handles were made:\n${handles.open().join('\n\n')}\n`);
    process.exit(code);
  }, EXIT_GRACE_MS).unref();
}

/** The binary refuses to run any command on a kafkajs without klinestream's fixes (the check says why). */
function checkedMain(argv: string[]): Promise<number> {
  const problem = kafkajsProblem('all');
  if (problem === undefined) return main(argv);
  process.stderr.write(`klinestream: refusing to start: ${problem}\n`);
  return Promise.resolve(1);
}

if (require.main === module) {
  checkedMain(process.argv.slice(2)).then(exitAfterGrace, (e: unknown) => {
    process.stderr.write(`klinestream: ${String(e)}\n`);
    exitAfterGrace(1);
  });
}
