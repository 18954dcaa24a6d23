import * as net from 'node:net';
import { RegistryClient, isConfigRace, registryError, valueSubject } from '../../src/codec/schema-registry';
import { KlinestreamError } from '../../src/errors';
import { caughtAsync } from './fixtures';

/** What @kafkajs/confluent-schema-registry rejects with for an HTTP error (its error middleware's shape). */
function responseError(status: number, message: string): Error {
  return Object.assign(new Error(`klinestream - ${message}`), { name: 'ResponseError', status });
}

const registerCtx = { operation: 'register' as const, url: 'http://reg', subject: 't-value', compatibility: 'BACKWARD', schemaName: 'io.klinestream.Trade' };
const fetchCtx = { operation: 'fetch' as const, url: 'http://reg', schemaId: 12 };

/** A local port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('schema registry error mapping', () => {
  it('uses the TopicNameStrategy for value subjects', () => {
    expect(valueSubject('dev.trades')).toBe('dev.trades-value');
  });

  it('tells the compatibility-config race apart from an incompatible schema', () => {
    expect(isConfigRace(responseError(409, "A rule named 'COMPATIBILITY' already exists."))).toBe(true);
    expect(isConfigRace(responseError(409, 'Incompatible schema'))).toBe(false);
    expect(isConfigRace(responseError(500, "A rule named 'COMPATIBILITY' already exists."))).toBe(false);
  });

  it('maps 409 on register to SCHEMA_INCOMPATIBLE, naming subject, schema and level', () => {
    const e = registryError(responseError(409, 'Incompatible schema'), registerCtx);
    expect(e.code).toBe('SCHEMA_INCOMPATIBLE');
    expect(e.message).toContain('"t-value"');
    expect(e.message).toContain('io.klinestream.Trade');
    expect(e.message).toContain('BACKWARD');
    expect(e.message).toContain('HTTP 409: Incompatible schema');
    expect(e.message).not.toContain('klinestream - ');
    // Apicurio's wording, as the real registry sends it (see test/integration/codec.test.ts).
    const apicurio = registryError(responseError(409, 'io.apicurio.registry.rules.RuleViolationException: Incompatible artifact: t-value [AVRO], num of incompatible diffs: {1}, list of diff types: [venue at /fields/10]'), registerCtx);
    expect(apicurio.message).toBe(
      'schema registry http://reg refused io.klinestream.Trade for subject "t-value": not BACKWARD-compatible with the versions already registered ' +
        '(HTTP 409: Incompatible artifact: t-value [AVRO], num of incompatible diffs: {1}, list of diff types: [venue at /fields/10])',
    );
    expect(e.details).toMatchObject({ subject: 't-value', status: 409 });
  });

  it('maps 404 on fetch to CODEC_UNKNOWN_SCHEMA with the id', () => {
    const e = registryError(responseError(404, 'Schema not found'), fetchCtx);
    expect(e.code).toBe('CODEC_UNKNOWN_SCHEMA');
    expect(e.details).toMatchObject({ schemaId: 12 });
  });

  it('maps a subject configured with another level to SCHEMA_REGISTRY, saying how to fix it', () => {
    const lib = Object.assign(new Error('Compatibility does not match the configuration (BACKWARD != NONE)'), { name: 'ConfluentSchemaRegistryCompatibilityError' });
    const e = registryError(lib, registerCtx);
    expect(e.code).toBe('SCHEMA_REGISTRY');
    expect(e.message).toContain('BACKWARD != NONE');
    expect(e.message).toContain('PUT /config/t-value');
  });

  it('maps network failures, invalid schemas and server errors to SCHEMA_REGISTRY', () => {
    const down = registryError(responseError(400, 'Error, status 400: connect ECONNREFUSED 127.0.0.1:1'), fetchCtx);
    expect(down.code).toBe('SCHEMA_REGISTRY');
    expect(down.message).toMatch(/unreachable.*ECONNREFUSED/);
    expect(down.details.status).toBeUndefined();
    expect(registryError(responseError(422, 'Invalid schema'), registerCtx).message).toMatch(/rejected .* as invalid/);
    expect(registryError(responseError(503, 'busy'), registerCtx)).toMatchObject({ code: 'SCHEMA_REGISTRY', details: { status: 503 } });
    expect(registryError(new TypeError('boom'), registerCtx).code).toBe('SCHEMA_REGISTRY');
  });

  it('passes KlinestreamErrors through', () => {
    const own = new KlinestreamError('CODEC_UNKNOWN_SCHEMA', 'x');
    expect(registryError(own, fetchCtx)).toBe(own);
  });

  it('reports an unreachable registry as SCHEMA_REGISTRY for register and fetch', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const client = new RegistryClient({ url, retries: 0 });
    const reg = await caughtAsync(client.register('t-value', '{"type":"record","name":"T","fields":[]}'));
    expect(reg.code).toBe('SCHEMA_REGISTRY');
    expect(reg.message).toContain(url);
    expect(reg.message).toContain('unreachable');
    const fetch = await caughtAsync(client.fetchSchema(1));
    expect(fetch.code).toBe('SCHEMA_REGISTRY');
    expect(fetch.message).toContain('fetching schema id 1');
  });

  it('gives up on a registry that accepts the connection but never answers', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as net.AddressInfo;
      const client = new RegistryClient({ url: `http://127.0.0.1:${port}`, retries: 0, timeoutMs: 200 });
      const e = await caughtAsync(client.fetchSchema(1));
      expect(e.code).toBe('SCHEMA_REGISTRY');
      expect(e.message).toMatch(/unreachable.*Timeout \(200ms\)/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
