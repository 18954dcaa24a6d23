/**
 * The one place where Kafka and schema-registry clients are built from the configuration, so that every
 * command talks to the cluster the same way: the resolved addresses (configured, or the embedded stack),
 * SASL (plain, scram-sha-256/512) and TLS with an optional CA, registry basic auth. Secrets travel only in
 * the client options; nothing here logs them.
 */
import type { Kafka, KafkaConfig, SASLOptions } from 'kafkajs';
import type { Config } from '../config/config';
import { RegistryClient } from '../codec/schema-registry';
import type { Logger } from '../observability/log';
import type { Connection } from '../config/connection';
import { createKafka } from './kafkajs-logging';

export interface ClientOptions {
  clientId: string;
  /** Retry settings for every request of this client (kafkajs' own backoff). */
  retry?: KafkaConfig['retry'];
  requestTimeoutMs?: number;
  connectionTimeoutMs?: number;
}

/** kafkajs SASL/TLS options from the validated configuration. */
export function securityOptions(config: Config): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const s = config.security;
  const out: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (s.ssl) out.ssl = s.sslCa === undefined ? true : { ca: [s.sslCa] };
  if (s.saslMechanism !== undefined) {
    out.sasl = { mechanism: s.saslMechanism, username: s.saslUsername!, password: s.saslPassword! } as SASLOptions;
  }
  return out;
}

export function kafkaClient(config: Config, connection: Connection, log: Logger, options: ClientOptions): Kafka {
  return createKafka({
    clientId: options.clientId,
    brokers: connection.brokers,
    log,
    logLevel: config.logLevel === 'debug' ? 'info' : 'warn',
    ...securityOptions(config),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeout: options.requestTimeoutMs }),
    ...(options.connectionTimeoutMs === undefined ? {} : { connectionTimeout: options.connectionTimeoutMs }),
  });
}

export function registryClient(config: Config, connection: Connection, clientId = 'klinestream'): RegistryClient {
  const s = config.security;
  return new RegistryClient({
    url: connection.schemaRegistryUrl,
    clientId,
    ...(s.registryUsername === undefined ? {} : { auth: { username: s.registryUsername, password: s.registryPassword! } }),
  });
}
