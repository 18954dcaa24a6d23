/**
 * kafkajs logs through its own console logger by default, as free text on stdout, which would mix with
 * command output (CSV on stdout) and escape our structured logs. This adapter sends every kafkajs entry
 * through our Logger as one JSON line with the kafkajs namespace and fields.
 */
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

export function kafkajsLogCreator(log: Logger): logCreator {
  const kafkaLog = log.child({ component: 'kafkajs' });
  return () => ({ namespace, level, log: entry }) => {
    // timestamp duplicates our own `time`; `logger` is always "kafkajs".
    const { message, timestamp: _timestamp, logger: _logger, ...fields } = entry;
    const record = { namespace, ...fields };
    const text = String(message);
    if (level <= KafkaLogLevel.WARN && isExpectedKafkajsNoise(text, (fields as { error?: unknown }).error)) {
      kafkaLog.debug(text, record);
      return;
    }
    switch (level) {
      case KafkaLogLevel.ERROR:
        kafkaLog.error(text, record);
        break;
      case KafkaLogLevel.WARN:
        kafkaLog.warn(text, record);
        break;
      case KafkaLogLevel.INFO:
        kafkaLog.info(text, record);
        break;
      default:
        kafkaLog.debug(text, record);
    }
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

/** A kafkajs client whose logs go through `log` (default threshold: warnings and errors). */
export function createKafka(options: Omit<KafkaConfig, 'logCreator' | 'logLevel'> & { log: Logger; logLevel?: LogLevel }): Kafka {
  const { log, logLevel = 'warn', ...config } = options;
  return new Kafka({ ...config, logLevel: kafkajsLogLevel(logLevel), logCreator: kafkajsLogCreator(log) });
}
