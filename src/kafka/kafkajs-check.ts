/**
 * The start-up check of the kafkajs fixes (./kafkajs-patch.ts): the CLI runs it before any command, and
 * KlineConsumer before it connects. Without it a fix that did not apply would go unnoticed: a reader of
 * `trades` would silently get records of aborted transactions.
 */
import { KlinestreamError } from '../errors';
import { KAFKA_CLASS_IN_USE } from './kafkajs-logging';
import { kafkajsPatchProblem } from './kafkajs-patch';

/**
 * Why klinestream must not start on this kafkajs, or undefined: the release and the fixes (see
 * kafkajsPatchProblem), and that klinestream's clients are made from the kafkajs copy that has them (a
 * klinestream module loaded before the fixes would hold a copy loaded without them).
 */
export function kafkajsProblem(scope: 'consumer' | 'all'): string | undefined {
  const problem = kafkajsPatchProblem(scope);
  if (problem !== undefined) return problem;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if ((require('kafkajs') as { Kafka: unknown }).Kafka !== KAFKA_CLASS_IN_USE) {
    return 'klinestream\'s Kafka clients come from a copy of kafkajs loaded before its fixes (src/kafka/kafkajs-patch.ts); import klinestream\'s entry point before its other modules';
  }
  return undefined;
}

/** Throws the reason (exit 1) when kafkajs is not as klinestream needs it. */
export function assertKafkajsReady(scope: 'consumer' | 'all'): void {
  const problem = kafkajsProblem(scope);
  if (problem !== undefined) throw new KlinestreamError('KAFKAJS_UNPATCHED', `refusing to start: ${problem}`, { scope });
}
