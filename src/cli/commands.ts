/**
 * The command table. Commands that later issues deliver are listed with their SPEC usage and answer
 * "not implemented yet" (exit 2) rather than pretending.
 */
import { KlinestreamError } from '../errors';
import { aggregateCommand } from './aggregate-command';
import { stackCommand } from './stack-command';

export interface Command {
  name: string;
  usage: string;
  summary: string;
  run(argv: string[]): Promise<number>;
}

function planned(name: string, usage: string, summary: string): Command {
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
  planned('produce', 'produce --source binance [--symbols A,B | --all] | --source file:PATH', 'publish exchange trades to Kafka'),
  planned('work', 'work [--until-caught-up]', 'one aggregation worker'),
  aggregateCommand,
  planned('klines', 'klines [--symbol S] [--interval I] [--final] [--from-beginning] [--format json|csv]', 'read the klines topic'),
  planned('replay', 'replay --from earliest|<iso time> [--to-topic T]', 'rebuild klines from retained trades'),
  planned('topics', 'topics create|describe|scale --partitions N', 'manage the topics'),
  planned('run', 'run', 'stack + producer + workers + live view'),
];
