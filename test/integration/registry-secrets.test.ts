/**
 * A registry URL with user info (`http://user:password@host/...`, how managed registries print it) never
 * shows its password: not in what `produce`, `status` and `topics describe` print when they work (the
 * credentials became basic auth and the real registry still answers), nor when the registry is unreachable,
 * nor in the configuration error of a URL that is not http(s). Checked against the raw password, its
 * URL-encoded form, and the base64 `user:password` of the Authorization header.
 */
import * as path from 'node:path';
import { KafkaResources, runCli, testConnection, testKafka, uniqueName, type CliResult } from './helpers';

jest.setTimeout(180_000);

const SAMPLE = path.resolve(__dirname, '../../data/binance/btcusdt-spot-2026-01-01-microseconds/aggtrades.csv');
const USER = 'svc-klines';
const PASSWORD = 'Pw@s3cret/16';
const ENCODED = encodeURIComponent(PASSWORD);

function withCredentials(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${USER}:${ENCODED}@${u.host}${u.pathname}`;
}

function expectNoSecret(what: string, r: CliResult): void {
  const all = `${r.stdout}\n${r.stderr}`;
  for (const secret of [PASSWORD, ENCODED, 's3cret', Buffer.from(`${USER}:${PASSWORD}`).toString('base64')]) {
    expect({ what, leaks: all.includes(secret) }).toEqual({ what, leaks: false });
  }
}

describe('registry credentials in SCHEMA_REGISTRY_URL', () => {
  const resources = new KafkaResources(testKafka(uniqueName('registry-secrets')));
  const prefix = `${uniqueName('regsecret')}.`;
  const { brokers, schemaRegistryUrl } = testConnection();
  const base = {
    ...process.env, KAFKA_BROKERS: brokers.join(','), KLINESTREAM_TOPIC_PREFIX: prefix, KLINESTREAM_PARTITIONS: '1',
    KLINESTREAM_LOG_LEVEL: 'debug', KLINESTREAM_MARKET: 'spot', SCHEMA_REGISTRY_USERNAME: '', SCHEMA_REGISTRY_PASSWORD: '',
  };

  afterAll(async () => {
    const admin = await resources.admin();
    for (const t of (await admin.listTopics()).filter((x) => x.startsWith(prefix))) resources.trackTopic(t);
    await resources.cleanup();
  });

  it('is used as basic auth and printed nowhere by produce, status and topics describe', async () => {
    const env = { ...base, SCHEMA_REGISTRY_URL: withCredentials(schemaRegistryUrl) };
    const produced = await runCli(['produce', '--source', `file:${SAMPLE}`, '--symbol', 'BTCUSDT'], env);
    expect({ code: produced.code, tail: produced.stderr.slice(-600) }).toMatchObject({ code: 0 });
    expect(produced.stderr).toContain('produce: 5000 trades written');
    expectNoSecret('produce', produced);

    const status = await runCli(['status'], env);
    expect(status.stdout + status.stderr).toContain(`registry ${schemaRegistryUrl}`);
    expectNoSecret('status', status);
    const statusJson = await runCli(['status', '--json'], env);
    expectNoSecret('status --json', statusJson);

    const described = await runCli(['topics', 'describe'], env);
    expect(described.code).toBe(0);
    expect(described.stdout).toContain(`${prefix}trades`);
    expectNoSecret('topics describe', described);
  });

  it('is printed nowhere when the registry is unreachable, and the address is named without it', async () => {
    const env = { ...base, SCHEMA_REGISTRY_URL: `http://${USER}:${ENCODED}@127.0.0.1:1/apis/ccompat/v7` };
    const produced = await runCli(['produce', '--source', `file:${SAMPLE}`, '--symbol', 'BTCUSDT'], env);
    expect(produced.code).toBe(1);
    expect(produced.stderr).toContain('schema registry at http://127.0.0.1:1/apis/ccompat/v7');
    expectNoSecret('produce, registry unreachable', produced);

    expectNoSecret('status, registry unreachable', await runCli(['status'], env));
    expectNoSecret('topics describe, registry unreachable', await runCli(['topics', 'describe'], env));
  });

  it('is printed nowhere in the configuration error of a URL that is not http(s)', async () => {
    const r = await runCli(['produce', '--source', `file:${SAMPLE}`, '--symbol', 'BTCUSDT'], { ...base, SCHEMA_REGISTRY_URL: `ftp://${USER}:${ENCODED}@127.0.0.1/x` });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('SCHEMA_REGISTRY_URL: expected a http: or https: URL, got "ftp://***@127.0.0.1/x"');
    expectNoSecret('config error', r);
  });
});
