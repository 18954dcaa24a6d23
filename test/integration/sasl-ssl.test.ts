/**
 * klinestream on a secured cluster, as on a managed one: a fresh private broker whose client listener is
 * SASL_SSL with SCRAM-SHA-512 (test/integration/secure-kafka.ts), the shared schema registry. `produce`,
 * `work`, `klines` and the library's KlineConsumer connect through it with the settings of SPEC section 5
 * and get the same klines as `aggregate` offline; a wrong password and an untrusted certificate each end in
 * one sentence and exit 1, and no output ever holds the password. The broker is fresh, so the same runs
 * also show a clean first run: no error-level line from any command.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Kline } from '../../src/codec/records';
import { KlineConsumer } from '../../src/index';
import { binanceDataDir } from '../support/data-dir';
import { runCli, testConnection, uniqueName, type CliResult } from './helpers';
import { expectOk } from './pipeline-helpers';
import { SecureKafka } from './secure-kafka';

jest.setTimeout(240_000);

let kafka: SecureKafka;
let frames: string;
const prefix = `${uniqueName('sasl')}.`;
const outputs: CliResult[] = [];

function env(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    SCHEMA_REGISTRY_URL: testConnection().schemaRegistryUrl,
    KLINESTREAM_TOPIC_PREFIX: prefix,
    KLINESTREAM_METRICS_PORT: '0',
    KLINESTREAM_PARTITIONS: '2',
    KLINESTREAM_LOG_LEVEL: 'info',
    ...kafka.clientEnv(overrides),
  };
}

async function cli(args: string[], overrides: Record<string, string | undefined> = {}): Promise<CliResult> {
  const r = await runCli(args, env(overrides), 120_000);
  outputs.push(r);
  return r;
}

function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('{') && (JSON.parse(l) as { level: string }).level === 'error');
}

const lastLine = (r: CliResult) => r.stderr.trimEnd().split('\n').at(-1);

beforeAll(async () => {
  kafka = await SecureKafka.start();
  // 2,000 real trades of one symbol: enough for several final 1m klines, quick to move.
  const source = path.join(binanceDataDir(), 'btcusdt-usdm-2024-07-18', 'aggtrade-frames.jsonl.gz');
  const lines = (await import('node:zlib')).gunzipSync(fs.readFileSync(source)).toString().split('\n').slice(0, 2000);
  frames = path.join(kafka.dir, 'frames.jsonl');
  fs.writeFileSync(frames, lines.join('\n') + '\n');
}, 180_000);

afterAll(async () => {
  await kafka?.destroy();
});

describe('SASL_SSL (SCRAM-SHA-512) broker', () => {
  let offline: string;

  it('produce, work --until-caught-up and klines connect through it and give what aggregate gives offline', async () => {
    offline = (await expectOk(runCli(['aggregate', '--source', `file:${frames}`, '--format', 'csv']), 'aggregate')).stdout;
    expect(offline.trim().split('\n').length).toBeGreaterThan(5);

    const produced = await expectOk(cli(['produce', '--source', `file:${frames}`]), 'produce');
    expect(produced.stderr).toMatch(/produce: 2000 trades written/);
    await expectOk(cli(['work', '--until-caught-up']), 'work');
    const klines = await expectOk(cli(['klines', '--final', '--from-beginning', '--exit-at-end', '--format', 'csv']), 'klines');
    expect(klines.stdout).toBe(offline);
    // A fresh broker: its retriable start-up answers are not errors, and nothing else went wrong.
    for (const r of outputs) expect(errorLines(r.stderr)).toEqual([]);
    for (const r of outputs) expect(r.stderr).not.toMatch(/Warning/);
  });

  it('the library (KlineConsumer from the package entry) reads the same finals through it', async () => {
    const consumer = new KlineConsumer({
      brokers: [kafka.brokers],
      schemaRegistryUrl: testConnection().schemaRegistryUrl,
      topicPrefix: prefix,
      finalOnly: true,
      fromBeginning: true,
      ssl: { ca: [fs.readFileSync(kafka.caPem, 'utf8')] },
      sasl: { mechanism: 'scram-sha-512', username: kafka.username, password: kafka.password },
    });
    const got: Kline[] = [];
    await consumer.readToEnd((k) => {
      got.push(k);
    });
    expect(got.length).toBe(offline.trim().split('\n').length - 1);
  });

  it('a wrong password: one sentence naming the broker and the settings, exit 1, no password printed', async () => {
    const wrong = `wrong-${kafka.password.slice(-6)}x`;
    const r = await cli(['klines', '--from-beginning', '--exit-at-end'], { KAFKA_SASL_PASSWORD: wrong });
    expect(r.code).toBe(1);
    expect(lastLine(r)).toBe(`klinestream klines: the Kafka broker at ${kafka.brokers} (KAFKA_BROKERS) refused the SASL login of KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD: wrong user name or password`);
    expect(errorLines(r.stderr)).toEqual([]);
    expect(r.stderr + r.stdout).not.toContain(wrong);
  });

  it('an untrusted certificate (no CA file): one sentence saying so and what to set, exit 1', async () => {
    const r = await cli(['work', '--until-caught-up'], { KAFKA_SSL_CA_FILE: undefined });
    expect(r.code).toBe(1);
    expect(lastLine(r)).toBe(
      `klinestream work: the TLS certificate of the Kafka broker at ${kafka.brokers} (KAFKA_BROKERS) is not trusted (signed by a CA this client does not trust, SELF_SIGNED_CERT_IN_CHAIN); set KAFKA_SSL_CA_FILE to the PEM file of the CA that signed it`,
    );
    expect(errorLines(r.stderr)).toEqual([]);
  });

  it('no command printed the password', () => {
    expect(outputs.length).toBeGreaterThanOrEqual(5);
    for (const r of outputs) expect(r.stdout + r.stderr).not.toContain(kafka.password);
  });
});
