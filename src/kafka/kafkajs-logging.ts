/**
 * kafkajs logs through its own console logger by default, as free text on stdout, which would mix with
 * command output (CSV on stdout) and escape our structured logs. This adapter sends every kafkajs entry
 * through our Logger as one JSON line with the kafkajs namespace and fields.
 */
// Before kafkajs, whichever way this module is reached: its fixes must be in the cache first.
import './kafkajs-patch';
import { Kafka, logLevel as KafkaLogLevel, type KafkaConfig, type logCreator } from 'kafkajs';
import type { Logger, LogLevel } from '../observability/log';

/**
 * kafkajs messages that are expected in normal operation and that it handles itself, logged at debug:
 * - CONCURRENT_TRANSACTIONS right after a commit (the broker is still writing the markers; kafkajs retries);
 * - "Limiting retries for the idempotent producer": we limit them on purpose, our own loops recover;
 * - the v2 partitioner notice (we name the partitioner on every producer).
 */
const EXPECTED = [
  /another concurrent operation on the same transaction was ongoing/,
  /Limiting retries for the idempotent producer/,
  /switched default partitioner/,
];

export function isExpectedKafkajsNoise(text: string, error: unknown): boolean {
  const e = typeof error === 'string' ? error : '';
  return EXPECTED.some((re) => re.test(text) || re.test(e));
}

/**
 * The broker's retriable answers while a fresh cluster starts up (kafkajs' protocol/error.js messages of
 * GROUP_LOAD_IN_PROGRESS, GROUP_COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR_FOR_GROUP, LEADER_NOT_AVAILABLE and
 * NOT_LEADER_FOR_PARTITION; test/kafka/kafkajs-logging.test.ts checks them against the installed kafkajs).
 * kafkajs logs each failed response at error level and then retries it; a first `work` on a fresh broker
 * printed several such lines although nothing was wrong. Logged at debug: if they persist, the request's
 * retries run out and the command fails with its own error.
 */
export const RETRIABLE_STARTUP_ANSWERS: readonly string[] = [
  "The coordinator is loading and hence can't process requests for this group",
  'The group coordinator is not available',
  'This is not the correct coordinator for this group',
  'There is no leader for this topic-partition as we are in the middle of a leadership election',
  'This server is not the leader for that topic-partition',
];

export function isRetriableStartupAnswer(text: string, error: unknown): boolean {
  return answerIn(RETRIABLE_STARTUP_ANSWERS, text, error);
}

/**
 * The group coordinator's answers while a consumer group rebalances: the error types kafkajs' own
 * `isRebalancing()` (kafkajs/src/errors.js) names, REBALANCE_IN_PROGRESS and ILLEGAL_GENERATION
 * (NOT_COORDINATOR_FOR_GROUP, the third, is a start-up answer above). Every `run` meets them within seconds:
 * the second worker's join rebalances the group the first one joined. kafkajs logs each failed Heartbeat
 * (one per fetched partition, 6 lines on the demo's 6 partitions) or OffsetCommit response at error
 * level, then its consumer rejoins by itself (runner.js, one warning "The group is rebalancing,
 * re-joining"); a commit the worker's flush sent with the generation that just ended is refused and the
 * flush says so itself (a warning in src/worker/flush.ts; the next flush commits a later offset).
 * test/kafka/kafkajs-logging.test.ts checks the texts and isRebalancing() against the installed kafkajs.
 * Logged at debug: a member that cannot rejoin ends in a consumer crash, which stays an error.
 */
export const REBALANCE_ANSWERS: readonly string[] = [
  'The group is rebalancing, so a rejoin is needed',
  'Specified group generation id is not valid',
];

export function isRebalanceAnswer(text: string, error: unknown): boolean {
  return answerIn(REBALANCE_ANSWERS, text, error);
}

/**
 * Whether a kafkajs entry's text ("Failed to send messages: <answer>", retried by kafkajs), or the broker
 * answer in its `error` field ("Response <API>" lines), is one of `answers`. Never a consumer's "Crash: ..."
 * line: kafkajs gave up on the answer there (its retries ran out, or it does not retry that one), which
 * stays an error whatever the answer was.
 */
function answerIn(answers: readonly string[], text: string, error: unknown): boolean {
  if (text.startsWith('Crash: ')) return false;
  const e = typeof error === 'string' ? error : error instanceof Error ? error.message : '';
  return answers.some((m) => e.includes(m) || text.includes(m));
}

/**
 * kafkajs' lines for a broker it cannot connect to or log in to, logged at error level on every retry
 * with the socket's stack trace (12 lines in 10 s for an unreachable address). The command ends with one
 * sentence saying what is wrong (src/kafka/connection-failure.ts), so each attempt is a warning, without
 * the stack, which only shows node's socket internals. The Connection namespace's line repeats what the
 * BrokerPool line right after it says (with the retry count), so it goes to debug.
 */
const CONNECTION_TROUBLE = [
  /^Connection error: /,
  /^Connection timeout$/,
  /^Failed to connect to seed broker/,
  /^Failed to connect to broker, reconnecting$/,
  /^SASL .* authentication failed/,
  /^Response SaslAuthenticate\(/,
];

export function isConnectionTrouble(text: string): boolean {
  return CONNECTION_TROUBLE.some((re) => re.test(text));
}

export type KafkajsLogDecision = { level: LogLevel; dropStack: boolean };

/**
 * A consumer's "Crash: KafkaJSProtocolError: <answer>" where the answer is a retriable start-up answer:
 * kafkajs restarts the consumer after it (its onCrash restarts on a retriable cause; all of
 * RETRIABLE_STARTUP_ANSWERS are retriable in kafkajs' protocol/error.js). Worth a warning (the consumer
 * rejoins), not an error. A crash whose retries ran out (KafkaJSNumberOfRetriesExceeded) or on an answer
 * kafkajs does not retry stays an error.
 */
function isRestartedCrash(text: string): boolean {
  const m = /^Crash: KafkaJSProtocolError: (.*)$/.exec(text);
  return m !== null && RETRIABLE_STARTUP_ANSWERS.includes(m[1]!);
}

/** What one kafkajs entry becomes in our log: its level, and whether its `stack` field is dropped. */
export function classifyKafkajsEntry(namespace: string, level: KafkaLogLevel, text: string, error: unknown): KafkajsLogDecision {
  if (level <= KafkaLogLevel.WARN && (isExpectedKafkajsNoise(text, error) || isRetriableStartupAnswer(text, error) || isRebalanceAnswer(text, error))) {
    return { level: 'debug', dropStack: false };
  }
  if (level <= KafkaLogLevel.WARN && isRestartedCrash(text)) return { level: 'warn', dropStack: true };
  if (level <= KafkaLogLevel.WARN && isConnectionTrouble(text)) {
    return { level: namespace === 'Connection' && /^Connection (error|timeout)/.test(text) ? 'debug' : 'warn', dropStack: true };
  }
  switch (level) {
    case KafkaLogLevel.ERROR:
    case KafkaLogLevel.NOTHING:
      return { level: 'error', dropStack: false };
    case KafkaLogLevel.WARN:
      return { level: 'warn', dropStack: false };
    case KafkaLogLevel.INFO:
      return { level: 'info', dropStack: false };
    default:
      return { level: 'debug', dropStack: false };
  }
}

export function kafkajsLogCreator(log: Logger): logCreator {
  const kafkaLog = log.child({ component: 'kafkajs' });
  return () => ({ namespace, level, log: entry }) => {
    // timestamp duplicates our own `time`; `logger` is always "kafkajs".
    const { message, timestamp: _timestamp, logger: _logger, ...fields } = entry;
    const text = String(message);
    const decision = classifyKafkajsEntry(namespace, level, text, (fields as { error?: unknown }).error);
    const { stack, ...rest } = fields as { stack?: unknown };
    const record = decision.dropStack ? { namespace, ...rest } : { namespace, ...rest, ...(stack === undefined ? {} : { stack }) };
    kafkaLog[decision.level](text, record);
  };
}

/** kafkajs filters by level before building an entry, so this spares the work for entries we would drop. */
export function kafkajsLogLevel(level: LogLevel): KafkaLogLevel {
  switch (level) {
    case 'debug':
      return KafkaLogLevel.DEBUG;
    case 'info':
      return KafkaLogLevel.INFO;
    case 'warn':
      return KafkaLogLevel.WARN;
    case 'error':
      return KafkaLogLevel.ERROR;
  }
}

/** The kafkajs client class every klinestream client is made of (checked by ./kafkajs-check.ts). */
export const KAFKA_CLASS_IN_USE: typeof Kafka = Kafka;

/** A kafkajs client whose logs go through `log` (default threshold: warnings and errors). */
export function createKafka(options: Omit<KafkaConfig, 'logCreator' | 'logLevel'> & { log: Logger; logLevel?: LogLevel }): Kafka {
  const { log, logLevel = 'warn', ...config } = options;
  return new Kafka({ ...config, logLevel: kafkajsLogLevel(logLevel), logCreator: kafkajsLogCreator(log) });
}
