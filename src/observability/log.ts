/**
 * Structured logging: one JSON object per line on stderr (stdout belongs to command output such as CSV).
 * Settled at construction (pino-style): the level threshold is a number compared once per call.
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
}

export interface LogSink {
  write(line: string): void;
}

const stderrSink: LogSink = { write: (line) => process.stderr.write(line) };

class JsonLogger implements Logger {
  constructor(
    private readonly threshold: number,
    private readonly bindings: Record<string, unknown>,
    private readonly sink: LogSink,
  ) {}

  debug(msg: string, fields?: Record<string, unknown>): void { this.emit(10, 'debug', msg, fields); }
  info(msg: string, fields?: Record<string, unknown>): void { this.emit(20, 'info', msg, fields); }
  warn(msg: string, fields?: Record<string, unknown>): void { this.emit(30, 'warn', msg, fields); }
  error(msg: string, fields?: Record<string, unknown>): void { this.emit(40, 'error', msg, fields); }

  child(bindings: Record<string, unknown>): Logger {
    return new JsonLogger(this.threshold, { ...this.bindings, ...bindings }, this.sink);
  }

  private emit(level: number, name: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (level < this.threshold) return;
    const record = { time: new Date().toISOString(), level: name, msg, ...this.bindings, ...fields };
    this.sink.write(JSON.stringify(record, errorReplacer) + '\n');
  }
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, message: value.message, ...(code === undefined ? {} : { code }) };
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export function createLogger(options: { level?: LogLevel; bindings?: Record<string, unknown>; sink?: LogSink } = {}): Logger {
  const level = options.level ?? (process.env.KLINESTREAM_LOG_LEVEL as LogLevel | undefined) ?? 'info';
  return new JsonLogger(LEVELS[level] ?? LEVELS.info, options.bindings ?? {}, options.sink ?? stderrSink);
}
