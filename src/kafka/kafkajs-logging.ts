/**
 * kafkajs logs through its own console logger by default, as free text on stdout, which would mix with
 * command output (CSV on stdout) and escape our structured logs. This adapter sends every kafkajs entry
 * through our Logger as one JSON line with the kafkajs namespace and fields.
 */
import { Kafka, logLevel as KafkaLogLevel, type KafkaConfig, type logCreator } from 'kafkajs';
import type { Logger, LogLevel } from '../observability/log';

export function kafkajsLogCreator(log: Logger): logCreator {
  const kafkaLog = log.child({ component: 'kafkajs' });
  return () => ({ namespace, level, log: entry }) => {
    // timestamp duplicates our own `time`; `logger` is always "kafkajs".
    const { message, timestamp: _timestamp, logger: _logger, ...fields } = entry;
    const record = { namespace, ...fields };
    const text = String(message);
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
