/**
 * The shared stack that global-setup provides: reachable from the test workers, reported up by the built
 * CLI, one broker, a Confluent-compatible registry, and helpers that clean up after a test.
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { Partitioners, type Kafka } from 'kafkajs';
import { loadConfig } from '../../src/config/config';
import { createLogger } from '../../src/observability/log';
import { stackLayout } from '../../src/stack/layout';
import { readPidFile, writePidFile } from '../../src/stack/proc';
import { registryPlan } from '../../src/stack/registry';
import { stackUp } from '../../src/stack/stack';
import { expectSuccess, KafkaResources, runCli, testConnection, testKafka, uniqueName } from './helpers';

const embedded = process.env.KLINESTREAM_TEST_STACK === 'embedded';
const whenEmbedded = embedded ? it : it.skip;

jest.setTimeout(120_000);

describe('integration test environment', () => {
  it('hands the stack addresses to this test worker through the environment', () => {
    const { brokers, schemaRegistryUrl } = testConnection();
    expect(brokers.length).toBeGreaterThan(0);
    expect(schemaRegistryUrl).toMatch(/^https?:\/\//);
    expect(['embedded', 'external']).toContain(process.env.KLINESTREAM_TEST_STACK);
    if (embedded) {
      const config = loadConfig({ ...process.env, KAFKA_BROKERS: undefined, SCHEMA_REGISTRY_URL: undefined });
      expect(brokers).toEqual([`127.0.0.1:${config.stack.kafkaPort}`]);
      expect(schemaRegistryUrl).toBe(`http://127.0.0.1:${config.stack.registryPort}/apis/ccompat/v7`);
    }
  });

  it('makes unique names per process and call, legal as topic names', () => {
    const a = uniqueName('klines test');
    const b = uniqueName('klines test');
    expect(a).not.toBe(b);
    expect(a).toMatch(new RegExp(`^klines-test-${process.pid}-[0-9a-f]{8}$`));
  });
});

describe('local stack', () => {
  let kafka: Kafka;
  beforeAll(() => {
    kafka = testKafka();
  });

  whenEmbedded('`klinestream stack status` (the built CLI) reports both services up, and which registry runs on which java', async () => {
    const config = loadConfig({ ...process.env, KAFKA_BROKERS: undefined, SCHEMA_REGISTRY_URL: undefined });
    // global-setup started (or kept) the registry release chosen for this machine: 3.3.3 when a Java 21+ exists.
    const plan = registryPlan(config);
    const r = await runCli(['stack', 'status']);
    expectSuccess(r);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^kafka 127\\.0\\.0\\.1:${config.stack.kafkaPort} up \\(pid \\d+\\)$`));
    const java = plan.javaMajor === undefined ? '\\d+' : String(plan.javaMajor);
    expect(lines[1]).toMatch(new RegExp(
      `^schema-registry http://127\\.0\\.0\\.1:${config.stack.registryPort}/apis/ccompat/v7 up \\(pid \\d+, apicurio ${plan.version.replace(/\./g, '\\.')} on java ${java}\\)$`,
    ));
  });

  it('is one broker, and describeCluster says so', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const cluster = await admin.describeCluster();
      expect(cluster.brokers).toHaveLength(1);
      expect(cluster.controller).toBe(cluster.brokers[0]!.nodeId);
      if (embedded) expect(`${cluster.brokers[0]!.host}:${cluster.brokers[0]!.port}`).toBe(testConnection().brokers[0]);
    } finally {
      await admin.disconnect();
    }
  });

  it('carries records through a topic and a consumer group, and the helpers delete both afterwards', async () => {
    const resources = new KafkaResources(kafka);
    const [topic] = await resources.createTopics({ prefix: 'stack-roundtrip', numPartitions: 2 });
    const groupId = resources.groupId('stack-roundtrip');
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    const consumer = kafka.consumer({ groupId });
    try {
      await producer.connect();
      await producer.send({ topic: topic!, acks: -1, messages: [{ key: 'a', value: 'one' }, { key: 'b', value: 'two' }] });
      await consumer.connect();
      await consumer.subscribe({ topic: topic!, fromBeginning: true });
      const seen: string[] = [];
      await new Promise<void>((resolve, reject) => {
        consumer.run({
          eachMessage: async ({ message }) => {
            seen.push(String(message.value));
            if (seen.length === 2) resolve();
          },
        }).catch(reject);
      });
      expect(seen.sort()).toEqual(['one', 'two']);
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
      await resources.cleanup();
    }
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect(await admin.listTopics()).not.toContain(topic);
      expect((await admin.listGroups()).groups.map((g) => g.groupId)).not.toContain(groupId);
    } finally {
      await admin.disconnect();
    }
  });

  it('has a schema registry that behaves like Confluent for our client library', async () => {
    const { schemaRegistryUrl } = testConnection();
    const registry = new SchemaRegistry({ host: schemaRegistryUrl });
    const subject = `${uniqueName('stack-test')}-value`;
    const v1 = { type: 'record', name: 'Probe', namespace: 'klinestream.test', fields: [{ name: 'a', type: 'int' }] };
    try {
      const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });
      // Canonical hashing: the same schema written differently is the same schema (same id).
      const spaced = JSON.stringify(v1, null, 2);
      expect((await registry.register({ type: SchemaType.AVRO, schema: spaced }, { subject })).id).toBe(id);
      const encoded = await registry.encode(id, { a: 7 });
      expect(encoded[0]).toBe(0);
      expect(encoded.readInt32BE(1)).toBe(id);
      expect(await registry.decode(encoded)).toEqual({ a: 7 });
      // BACKWARD by default: adding a field with a default is fine, changing a field's type is refused.
      const v2 = { ...v1, fields: [...v1.fields, { name: 'b', type: 'long', default: 0 }] };
      await expect(registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v2) }, { subject })).resolves.toHaveProperty('id');
      const broken = { ...v1, fields: [{ name: 'a', type: 'string' }] };
      await expect(registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(broken) }, { subject })).rejects.toThrow();
      // ... and refused the way Confluent does it, with HTTP 409 (what the client library turns into the error above).
      const refused = await fetch(`${schemaRegistryUrl}/subjects/${subject}/versions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
        body: JSON.stringify({ schema: JSON.stringify(broken) }),
      });
      expect(refused.status).toBe(409);
      if (embedded) {
        // Our registry's global BACKWARD rule, as the Confluent API shows it for a subject without its own
        // (a real Confluent registry answers 404 there unless asked for the default).
        const level = await (await fetch(`${schemaRegistryUrl}/config/${subject}`)).json() as { compatibilityLevel?: string };
        expect(level.compatibilityLevel).toBe('BACKWARD');
      }
    } finally {
      await fetch(`${schemaRegistryUrl}/subjects/${subject}`, { method: 'DELETE' });
      await fetch(`${schemaRegistryUrl}/subjects/${subject}?permanent=true`, { method: 'DELETE' });
    }
  });

  whenEmbedded('`up` against a running stack changes nothing, and heals a lost pid file from the running JVM', async () => {
    const config = loadConfig({ ...process.env, KAFKA_BROKERS: undefined, SCHEMA_REGISTRY_URL: undefined });
    const layout = stackLayout(config.cacheDir);
    const log = createLogger({ level: 'error' });
    const pids = { kafka: readPidFile(layout.pidFile('kafka')), registry: readPidFile(layout.pidFile('registry')) };
    expect(pids.kafka).toBeDefined();
    expect(pids.registry).toBeDefined();

    const again = await stackUp(config, log);
    expect(again.map((r) => [r.service, r.action, r.pid])).toEqual([
      ['kafka', 'already-running', pids.kafka],
      ['registry', 'already-running', pids.registry],
    ]);

    // A pid file pointing at a dead process while the real JVM still runs (e.g. the file was clobbered).
    writePidFile(layout.pidFile('kafka'), 999_999_999);
    const healed = await stackUp(config, log);
    expect(healed[0]).toMatchObject({ service: 'kafka', action: 'already-running', pid: pids.kafka });
    expect(readPidFile(layout.pidFile('kafka'))).toBe(pids.kafka);
  });
});
