import { KlinestreamError } from '../../src/errors';
import { connectionFailureSentence, connectionOrigins } from '../../src/cli/failure-sentence';

describe('connectionOrigins', () => {
  it('names the flag when one is given, else the environment, else the embedded stack', () => {
    expect(connectionOrigins(['--brokers', 'a:1'], { KAFKA_BROKERS: 'b:2' }).kafka.brokers).toBe('--brokers');
    expect(connectionOrigins(['--brokers=a:1'], {}).brokers).toEqual(['a:1']);
    expect(connectionOrigins([], { KAFKA_BROKERS: 'b:2,c:3' })).toMatchObject({ brokers: ['b:2', 'c:3'], kafka: { brokers: 'KAFKA_BROKERS' } });
    expect(connectionOrigins([], { KAFKA_BROKERS: '' }).kafka.brokers).toMatch(/embedded local stack/);
    expect(connectionOrigins(['--schema-registry', 'http://r'], {}).registry).toBe('--schema-registry');
    expect(connectionOrigins([], { SCHEMA_REGISTRY_URL: 'http://r' }).registry).toBe('SCHEMA_REGISTRY_URL');
    expect(connectionOrigins(['--sasl-password', 'x'], {}).kafka.sasl).toBe('KAFKA_SASL_USERNAME / --sasl-password');
  });
});

describe('connectionFailureSentence', () => {
  it('turns an unreachable registry into one sentence with its setting', () => {
    const e = new KlinestreamError('SCHEMA_REGISTRY', 'schema registry http://127.0.0.1:1/apis/ccompat/v7 is unreachable while registering io.klinestream.Trade under subject "trades-value": Error, status 400: connect ECONNREFUSED 127.0.0.1:1', { url: 'http://127.0.0.1:1/apis/ccompat/v7' });
    const out = connectionFailureSentence(e, connectionOrigins([], { SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1/apis/ccompat/v7' }));
    expect(out!.message).toBe('cannot reach the schema registry at http://127.0.0.1:1/apis/ccompat/v7 (SCHEMA_REGISTRY_URL): connection refused');
  });

  it('leaves a registry that answered (e.g. an incompatible schema) as it is', () => {
    const e = new KlinestreamError('SCHEMA_REGISTRY', 'schema registry http://r: registering x failed (HTTP 500: boom)', { url: 'http://r' });
    expect(connectionFailureSentence(e, connectionOrigins([], {}))).toBeUndefined();
  });
});
