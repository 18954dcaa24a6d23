/**
 * The command table. Commands that later issues deliver are listed with their SPEC usage and answer
 * "not implemented yet" (exit 2) rather than pretending.
 */
import { KlinestreamError } from '../errors';
import { aggregateCommand } from './aggregate-command';
import { klinesCommand } from './klines-command';
import { produceCommand } from './produce-command';
import { workCommand } from './work-command';
import { replayCommand } from './replay-command';
import { topicsCommand } from './topics-command';
import { loadDirectory } from '../symbols/load-directory';
import { stackCommand } from './stack-command';
import { runCommand } from './run-command';
import { statusCommand } from './status-command';
import { verifyCommand } from './verify-command';

export interface Command {
  name: string;
  usage: string;
  summary: string;
  run(argv: string[]): Promise<number>;
}

export function planned(name: string, usage: string, summary: string): Command {
  return {
    name,
    usage,
    summary: `${summary} (not implemented yet)`,
    run: async () => {
      throw new KlinestreamError('NOT_IMPLEMENTED', `${name} is not implemented yet; see README "Commands" for what exists today`, {}, { exitCode: 2 });
    },
  };
}

// Commands register themselves here as they land; keep SPEC section 5 order.
export const COMMANDS: Command[] = [
  stackCommand,
  produceCommand,
  workCommand,
  aggregateCommand,
  klinesCommand,
  replayCommand,
  topicsCommand(async (config, connection, log, partitions) => (await loadDirectory(config, connection, log)).placementCounts(partitions)),
  statusCommand,
  runCommand,
  verifyCommand,
];
