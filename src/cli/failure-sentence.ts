/**
 * The last line of a command that could not reach its services: one sentence naming the address and the
 * setting it came from (flag, environment, or the embedded stack's port), instead of a kafkajs class name
 * and a stack trace. The setting is found from the command line and the environment the command ran with,
 * so every command gets it without threading where each address came from through every layer.
 */
import { KlinestreamError } from '../errors';
import { kafkaConnectionFailure, type KafkaSettingNames } from '../kafka/connection-failure';

/** `--name value` or `--name=value` in argv (the last one wins, as in parseArgs). */
function flagValue(argv: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) value = argv[i + 1];
    else if (a.startsWith(`--${name}=`)) value = a.slice(name.length + 3);
  }
  return value;
}

function given(v: string | undefined): v is string {
  return v !== undefined && v !== '';
}

export interface ConnectionOrigins {
  kafka: KafkaSettingNames;
  /** The brokers as configured (for failures that do not name one), or the embedded stack's address. */
  brokers: string[];
  registry: string;
}

/** Where this command's connection settings came from: a flag wins over the environment, as in loadConfig. */
export function connectionOrigins(argv: readonly string[], env: NodeJS.ProcessEnv): ConnectionOrigins {
  const brokersFlag = flagValue(argv, 'brokers');
  const stackPort = env.KLINESTREAM_STACK_KAFKA_PORT || '19092';
  const [brokersSetting, brokers] = given(brokersFlag)
    ? ['--brokers', brokersFlag]
    : given(env.KAFKA_BROKERS) ? ['KAFKA_BROKERS', env.KAFKA_BROKERS] : ['the embedded local stack, KLINESTREAM_STACK_KAFKA_PORT', `127.0.0.1:${stackPort}`];
  const flagOr = (flag: string, envName: string) => (given(flagValue(argv, flag)) ? `--${flag}` : envName);
  return {
    kafka: {
      brokers: brokersSetting,
      sasl: `${flagOr('sasl-username', 'KAFKA_SASL_USERNAME')} / ${flagOr('sasl-password', 'KAFKA_SASL_PASSWORD')}`,
      sslCa: flagOr('ssl-ca-file', 'KAFKA_SSL_CA_FILE'),
    },
    brokers: brokers.split(',').map((b) => b.trim()).filter((b) => b !== ''),
    registry: given(flagValue(argv, 'schema-registry'))
      ? '--schema-registry'
      : given(env.SCHEMA_REGISTRY_URL) ? 'SCHEMA_REGISTRY_URL' : 'the embedded local stack, KLINESTREAM_STACK_REGISTRY_PORT',
  };
}

const NETWORK_REASONS: ReadonlyArray<[RegExp, string]> = [
  [/ECONNREFUSED/, 'connection refused'],
  [/ENOTFOUND/, 'host name not found'],
  [/EAI_AGAIN/, 'host name lookup failed'],
  [/EHOSTUNREACH/, 'host unreachable'],
  [/ENETUNREACH/, 'network unreachable'],
  [/ETIMEDOUT|Timeout \(\d+ms\)/, 'no answer in time'],
  [/ECONNRESET|socket hang up|EPIPE/, 'connection reset'],
];

/**
 * The one-sentence replacement for a failure to reach Kafka or the registry, or undefined for any other
 * failure (printed as it is).
 */
export function connectionFailureSentence(e: unknown, origins: ConnectionOrigins): KlinestreamError | undefined {
  const kafka = kafkaConnectionFailure(e, origins.brokers, origins.kafka);
  if (kafka !== undefined) return kafka;
  if (e instanceof KlinestreamError && e.code === 'SCHEMA_REGISTRY' && typeof e.details.url === 'string' && / is unreachable /.test(e.message)) {
    const reason = NETWORK_REASONS.find(([re]) => re.test(e.message))?.[1] ?? 'no HTTP answer';
    return new KlinestreamError('SCHEMA_REGISTRY', `cannot reach the schema registry at ${e.details.url} (${origins.registry}): ${reason}`, { ...e.details, setting: origins.registry });
  }
  return undefined;
}
