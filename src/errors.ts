/**
 * One error base class for the whole project. Every error we raise on purpose carries a stable `code`
 * (what went wrong, for metrics and tests) and an `exitCode` (what the CLI returns when it reaches the top).
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'USAGE'
  | 'FRAME_MALFORMED'
  | 'CODEC_UNKNOWN_SCHEMA'
  | 'CODEC_TRUNCATED'
  | 'CODEC_BAD_MAGIC'
  | 'CODEC_DECODE_FAILED'
  | 'CODEC_ENCODE_FAILED'
  | 'SCHEMA_INCOMPATIBLE'
  | 'SCHEMA_REGISTRY'
  | 'SCHEMA_CATALOGUE'
  | 'STACK_FETCH_FAILED'
  | 'STACK_START_FAILED'
  | 'STACK_NOT_RUNNING'
  | 'STACK_LOCK_TIMEOUT'
  | 'STACK_STOP_FAILED'
  | 'SOURCE_UNREADABLE'
  | 'AGGREGATOR_STATE'
  | 'EXCHANGE_HTTP'
  | 'EXCHANGE_UNREACHABLE'
  | 'EXCHANGE_BAD_ANSWER'
  | 'EXCHANGE_BANNED'
  | 'KAFKA_UNAVAILABLE'
  | 'KAFKAJS_UNPATCHED'
  | 'KAFKA_PRODUCE_FAILED'
  | 'PRODUCER_FENCED'
  | 'TOPIC_MISMATCH'
  | 'STATE_UNREADABLE'
  | 'WORKER_FAILED'
  | 'NOT_IMPLEMENTED';

export class KlinestreamError extends Error {
  readonly code: ErrorCode;
  /** Process exit code when this error ends a command: 2 for bad usage or config, 1 for runtime failures. */
  readonly exitCode: number;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = options?.exitCode ?? 1;
    this.details = details;
  }
}

/** Bad configuration or command-line usage: exit code 2, and the message names the setting. */
export class ConfigError extends KlinestreamError {
  constructor(setting: string, problem: string, details: Record<string, unknown> = {}) {
    super('CONFIG_INVALID', `${setting}: ${problem}`, { setting, ...details }, { exitCode: 2 });
  }
}

export class UsageError extends KlinestreamError {
  constructor(message: string) {
    super('USAGE', message, {}, { exitCode: 2 });
  }
}

export function isKlinestreamError(e: unknown): e is KlinestreamError {
  return e instanceof KlinestreamError;
}
