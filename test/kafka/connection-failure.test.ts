import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSSASLAuthenticationError } from 'kafkajs';
import { KlinestreamError } from '../../src/errors';
import { kafkaConnectionFailure, LIBRARY_OPTION_NAMES } from '../../src/kafka/connection-failure';

// kafkajs' typings leave out the constructor options its code takes (cause, broker, code).
const NonRetriable = KafkaJSNonRetriableError as unknown as new (e: Error, o: { cause: Error }) => Error;
const SaslError = KafkaJSSASLAuthenticationError as unknown as new (message: string) => Error;

/** What kafkajs' retrier throws when its retries run out: the last error wrapped, `cause` set. */
function exhausted(e: Error): Error {
  return new NonRetriable(e, { cause: e });
}

describe('kafkaConnectionFailure', () => {
  it('names the unreachable broker and the setting it came from, in one sentence', () => {
    const e = exhausted(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:1', { broker: '127.0.0.1:1', code: 'ECONNREFUSED' } as never));
    const out = kafkaConnectionFailure(e, ['127.0.0.1:1']);
    expect(out).toBeInstanceOf(KlinestreamError);
    expect(out!.message).toBe('cannot reach the Kafka broker at 127.0.0.1:1 (KAFKA_BROKERS): connection refused');
    expect(out!.exitCode).toBe(1);
    expect(out!.message).not.toMatch(/\n/);
  });

  it('says the SASL login was refused, naming the settings but nothing of their values', () => {
    const e = exhausted(new SaslError('SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512'));
    const out = kafkaConnectionFailure(e, ['127.0.0.1:29093'], { brokers: '--brokers', sasl: 'KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD', sslCa: 'KAFKA_SSL_CA_FILE' });
    expect(out!.message).toBe('the Kafka broker at 127.0.0.1:29093 (--brokers) refused the SASL login of KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD: wrong user name or password');
  });

  it('says the certificate is not trusted and which setting fixes it', () => {
    const e = exhausted(new KafkaJSConnectionError('Connection error: self-signed certificate in certificate chain', { broker: '127.0.0.1:29093', code: 'SELF_SIGNED_CERT_IN_CHAIN' } as never));
    expect(kafkaConnectionFailure(e, ['127.0.0.1:29093'])!.message).toBe(
      'the TLS certificate of the Kafka broker at 127.0.0.1:29093 (KAFKA_BROKERS) is not trusted (signed by a CA this client does not trust, SELF_SIGNED_CERT_IN_CHAIN); set KAFKA_SSL_CA_FILE to the PEM file of the CA that signed it',
    );
  });

  it('describes again, in the CLI\'s words, a failure the library described in its option names', () => {
    const inner = exhausted(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:1', { broker: '127.0.0.1:1', code: 'ECONNREFUSED' } as never));
    const library = kafkaConnectionFailure(inner, ['127.0.0.1:1'], LIBRARY_OPTION_NAMES)!;
    expect(library.message).toBe('cannot reach the Kafka broker at 127.0.0.1:1 (the brokers option): connection refused');
    expect(kafkaConnectionFailure(library, ['127.0.0.1:1'])!.message).toBe('cannot reach the Kafka broker at 127.0.0.1:1 (KAFKA_BROKERS): connection refused');
  });

  it('leaves other failures alone', () => {
    expect(kafkaConnectionFailure(new Error('boom'), ['b:1'])).toBeUndefined();
    expect(kafkaConnectionFailure(new KlinestreamError('WORKER_FAILED', 'x'), ['b:1'])).toBeUndefined();
  });
});
