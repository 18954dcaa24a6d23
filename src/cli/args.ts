/**
 * Argument parsing on top of node:util parseArgs (strict: unknown options are usage errors, exit 2).
 * Each command declares its own options plus any configuration flags it accepts; configuration flags are
 * handed to loadConfig so that one validation path serves flags and environment alike.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../errors';
import { CONFIG_FLAGS } from '../config/config';

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** The configuration flags that were given, as strings, for loadConfig. */
  configFlags: Record<string, string>;
}

export function parseCommandArgs(command: string, argv: string[], options: OptionSpec, allowPositionals = false): ParsedArgs {
  const all: OptionSpec = { help: { type: 'boolean', short: 'h' }, ...options };
  for (const flag of CONFIG_FLAGS) if (!(flag in all)) all[flag] = { type: 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: all, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError(`${command}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const configFlags: Record<string, string> = {};
  for (const flag of CONFIG_FLAGS) {
    const v = parsed.values[flag];
    if (typeof v === 'string') configFlags[flag] = v;
  }
  return { values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals, configFlags };
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function requireString(args: ParsedArgs, command: string, name: string): string {
  const v = stringOption(args, name);
  if (v === undefined || v === '') throw new UsageError(`${command}: --${name} is required`);
  return v;
}
