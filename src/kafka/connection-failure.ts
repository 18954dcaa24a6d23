/**
 * kafkajs reports a broker it cannot use as a chain of its own errors (`KafkaJSNonRetriableError` caused by
 * `KafkaJSConnectionError: Connection error: connect ECONNREFUSED ...`), which reaches a user as a class
 * name and a stack trace. This turns the three failures a person can fix into one sentence that names the
 * address and the setting it came from: an unreachable broker, a refused SASL login, an untrusted TLS
 * certificate. Nothing of a secret is ever part of the sentence (kafkajs' messages carry none either: the
 * SCRAM failure text is the broker's "invalid credentials", never the password).
 */
import { KlinestreamError } from '../errors';

/** Where the connection settings came from, in the words a user would grep for. */
export interface KafkaSettingNames {
  /** The setting that named the brokers: `KAFKA_BROKERS`, `--brokers`, `the brokers option`, or the stack's. */
  brokers: string;
  /** The settings of the SASL login (`KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD`). */
  sasl: string;
  /** The setting that names a CA file (`KAFKA_SSL_CA_FILE`). */
  sslCa: string;
}

/** The names a library user knows: the options of KlineConsumer. */
export const LIBRARY_OPTION_NAMES: KafkaSettingNames = {
  brokers: 'the brokers option',
  sasl: 'the sasl option',
  sslCa: 'the ssl.ca option',
};

export const ENV_SETTING_NAMES: KafkaSettingNames = {
  brokers: 'KAFKA_BROKERS',
  sasl: 'KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD',
  sslCa: 'KAFKA_SSL_CA_FILE',
};

/** Node's (OpenSSL's) codes for a certificate the client does not trust or that is not the host's. */
const UNTRUSTED_CERTIFICATE: Readonly<Record<string, string>> = {
  SELF_SIGNED_CERT_IN_CHAIN: 'signed by a CA this client does not trust',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'signed by a CA this client does not trust',
  UNABLE_TO_GET_ISSUER_CERT: 'signed by a CA this client does not trust',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'signed by a CA this client does not trust',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'issued for another host name',
};

/** Socket failures that mean "nothing usable answers at this address". */
const UNREACHABLE: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset',
};

interface ChainLink {
  name: string;
  message: string;
  code: string | undefined;
  broker: string | undefined;
}

/** The error and everything it was caused by (kafkajs nests through `cause`; bounded against cycles). */
function chainOf(e: unknown): ChainLink[] {
  const links: ChainLink[] = [];
  let current: unknown = e;
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    const fields = current as Error & { code?: unknown; broker?: unknown; cause?: unknown; originalError?: unknown };
    links.push({
      name: current.name,
      message: current.message,
      code: typeof fields.code === 'string' ? fields.code : undefined,
      broker: typeof fields.broker === 'string' ? fields.broker : undefined,
    });
    const next = fields.cause ?? fields.originalError;
    if (next === current) break;
    current = next;
  }
  return links;
}

function addressOf(links: ChainLink[], brokers: readonly string[]): string {
  const named = links.find((l) => l.broker !== undefined)?.broker;
  return named ?? brokers.join(',');
}

/**
 * The sentence for a kafkajs failure to connect or log in, as a KlinestreamError (KAFKA_UNAVAILABLE, exit
 * 1), or undefined when `e` is something else (left to the caller as it is).
 */
export function kafkaConnectionFailure(e: unknown, brokers: readonly string[], names: KafkaSettingNames = ENV_SETTING_NAMES): KlinestreamError | undefined {
  if (e instanceof KlinestreamError) {
    // One described already in other words (the library's option names): described again in these.
    return e.code === 'KAFKA_UNAVAILABLE' && e.details.reason !== undefined && e.cause !== undefined ? kafkaConnectionFailure(e.cause, brokers, names) : undefined;
  }
  const links = chainOf(e);
  if (!links.some((l) => l.name.startsWith('KafkaJS'))) return undefined;
  const address = addressOf(links, brokers);
  const details = { brokers: [...brokers], setting: names.brokers };
  const sasl = links.find((l) => l.name === 'KafkaJSSASLAuthenticationError');
  if (sasl !== undefined) {
    const unsupported = /mechanism is not supported/.test(sasl.message);
    return new KlinestreamError(
      'KAFKA_UNAVAILABLE',
      unsupported
        ? `the Kafka broker at ${address} (${names.brokers}) does not offer this SASL mechanism: ${sasl.message.replace(/^SASL /, '')}`
        : `the Kafka broker at ${address} (${names.brokers}) refused the SASL login of ${names.sasl}: wrong user name or password`,
      { ...details, reason: 'sasl' },
      { cause: e },
    );
  }
  const tls = links.find((l) => l.code !== undefined && UNTRUSTED_CERTIFICATE[l.code] !== undefined);
  if (tls !== undefined) {
    return new KlinestreamError(
      'KAFKA_UNAVAILABLE',
      `the TLS certificate of the Kafka broker at ${address} (${names.brokers}) is not trusted (${UNTRUSTED_CERTIFICATE[tls.code!]}, ${tls.code}); set ${names.sslCa} to the PEM file of the CA that signed it`,
      { ...details, reason: 'tls', code: tls.code },
      { cause: e },
    );
  }
  const connection = links.find((l) => l.name === 'KafkaJSConnectionError' || l.name === 'KafkaJSConnectionClosedError');
  if (connection !== undefined) {
    const why = (connection.code !== undefined ? UNREACHABLE[connection.code] : undefined)
      ?? (/timeout/i.test(connection.message) ? 'connection timed out' : connection.message.replace(/^Connection error: /, ''));
    return new KlinestreamError(
      'KAFKA_UNAVAILABLE',
      `cannot reach the Kafka broker at ${address} (${names.brokers}): ${why}`,
      { ...details, reason: 'unreachable', ...(connection.code === undefined ? {} : { code: connection.code }) },
      { cause: e },
    );
  }
  return undefined;
}
