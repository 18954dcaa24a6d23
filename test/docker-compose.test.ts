/**
 * docker-compose.yml cannot be started here (no Docker), so this test checks what can drift silently:
 * the addresses the app services use match what Kafka advertises and where the registry listens, every
 * variable given to the app is one of our configuration settings (a rename in src/config/config.ts fails
 * this test), and the single-node KRaft configuration is complete.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { describeSettings, loadConfig } from '../src/config/config';

const ROOT = path.resolve(__dirname, '..');

interface Service {
  image?: string;
  command?: string | string[];
  environment: Record<string, string>;
  depends_on: Record<string, string>;
  healthcheck?: unknown;
  volumes: string[];
  working_dir?: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Compose allows `KEY: value` maps and `KEY=value` lists; values may be numbers or booleans in YAML. */
function environmentOf(raw: unknown): Record<string, string> {
  const env: Record<string, string> = {};
  if (Array.isArray(raw)) {
    for (const item of raw) {
      const s = String(item);
      const eq = s.indexOf('=');
      env[eq < 0 ? s : s.slice(0, eq)] = eq < 0 ? '' : s.slice(eq + 1);
    }
  } else if (isRecord(raw)) {
    for (const [k, v] of Object.entries(raw)) env[k] = v === null || v === undefined ? '' : String(v);
  }
  return env;
}

/** `depends_on` as service -> condition (the short list form means service_started). */
function dependsOf(raw: unknown): Record<string, string> {
  const deps: Record<string, string> = {};
  if (Array.isArray(raw)) for (const s of raw) deps[String(s)] = 'service_started';
  else if (isRecord(raw)) {
    for (const [k, v] of Object.entries(raw)) deps[k] = isRecord(v) && typeof v.condition === 'string' ? v.condition : 'service_started';
  }
  return deps;
}

function loadCompose(): Record<string, Service> {
  // merge: true resolves the `<<: *app` merge keys the way Docker Compose does.
  const doc: unknown = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
  if (!isRecord(doc) || !isRecord(doc.services)) throw new Error('docker-compose.yml has no services map');
  const services: Record<string, Service> = {};
  for (const [name, raw] of Object.entries(doc.services)) {
    if (!isRecord(raw)) throw new Error(`service ${name} is not a map`);
    services[name] = {
      image: typeof raw.image === 'string' ? raw.image : undefined,
      command: typeof raw.command === 'string' || Array.isArray(raw.command) ? (raw.command as string | string[]) : undefined,
      environment: environmentOf(raw.environment),
      depends_on: dependsOf(raw.depends_on),
      healthcheck: raw.healthcheck,
      volumes: Array.isArray(raw.volumes) ? raw.volumes.map(String) : [],
      working_dir: typeof raw.working_dir === 'string' ? raw.working_dir : undefined,
    };
  }
  return services;
}

function commandLine(s: Service): string {
  return Array.isArray(s.command) ? s.command.join(' ') : (s.command ?? '');
}

/** `NAME://host:port,...` -> listener name -> host:port (an empty host means all interfaces). */
function listeners(raw: string | undefined): Map<string, { host: string; port: number }> {
  const out = new Map<string, { host: string; port: number }>();
  for (const part of (raw ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9_]+):\/\/([^:]*):(\d+)$/.exec(part);
    if (!m) throw new Error(`cannot read listener ${JSON.stringify(part)}`);
    out.set(m[1]!, { host: m[2]!, port: Number(m[3]) });
  }
  return out;
}

const services = loadCompose();
const APP_SERVICES = ['producer', 'worker-1', 'worker-2'];
/** Standard variables an app service may set besides our own settings; each one deliberately listed. */
const STANDARD_ENV = new Set(['NODE_ENV', 'NODE_OPTIONS', 'TZ']);
/** The CLI entry point, as package.json publishes it. */
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const CLI = pkg.bin.klinestream!;

describe('docker-compose.yml', () => {
  test('has the expected services', () => {
    expect(Object.keys(services).sort()).toEqual(['build', 'kafka', 'producer', 'schema-registry', 'worker-1', 'worker-2']);
    expect(services.kafka!.image).toBe('apache/kafka:3.9.1');
    expect(services['schema-registry']!.image).toBe('apicurio/apicurio-registry:3.3.3');
  });

  describe('kafka (KRaft, one node)', () => {
    const env = services.kafka!.environment;

    test('every setting a combined broker+controller needs is given (the image drops its defaults once any KAFKA_* is set)', () => {
      for (const name of [
        'KAFKA_NODE_ID', 'KAFKA_PROCESS_ROLES', 'KAFKA_LISTENERS', 'KAFKA_ADVERTISED_LISTENERS', 'KAFKA_CONTROLLER_LISTENER_NAMES',
        'KAFKA_LISTENER_SECURITY_PROTOCOL_MAP', 'KAFKA_CONTROLLER_QUORUM_VOTERS', 'KAFKA_INTER_BROKER_LISTENER_NAME',
        'KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR', 'KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR', 'KAFKA_TRANSACTION_STATE_LOG_MIN_ISR',
        'KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS', 'KAFKA_LOG_DIRS',
      ]) {
        expect({ name, value: env[name] ?? '' }).toEqual({ name, value: expect.stringMatching(/\S/) });
      }
      expect(env.KAFKA_PROCESS_ROLES!.split(',').sort()).toEqual(['broker', 'controller']);
      expect(env.KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS).toBe('0');
    });

    test('replication factors and min ISR are 1', () => {
      const factors = Object.keys(env).filter((k) => /REPLICATION_FACTOR$|MIN_ISR$|MIN_INSYNC_REPLICAS$/.test(k));
      expect(factors.length).toBeGreaterThanOrEqual(3);
      for (const k of factors) expect({ k, v: env[k] }).toEqual({ k, v: '1' });
    });

    test('listener names, protocol map, controller and quorum voters agree', () => {
      const bound = listeners(env.KAFKA_LISTENERS);
      const advertised = listeners(env.KAFKA_ADVERTISED_LISTENERS);
      const protocols = new Map(env.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP!.split(',').map((p) => p.split(':') as [string, string]));
      const controller = env.KAFKA_CONTROLLER_LISTENER_NAMES!;
      for (const name of bound.keys()) expect(protocols.has(name)).toBe(true);
      expect(bound.has(controller)).toBe(true);
      expect(advertised.has(controller)).toBe(false); // clients never talk to the controller listener
      expect(bound.has(env.KAFKA_INTER_BROKER_LISTENER_NAME!)).toBe(true);
      for (const [name, addr] of advertised) expect({ name, port: bound.get(name)?.port }).toEqual({ name, port: addr.port });
      const voter = /^(\d+)@([^:]+):(\d+)$/.exec(env.KAFKA_CONTROLLER_QUORUM_VOTERS!);
      expect(voter).not.toBeNull();
      expect(voter![1]).toBe(env.KAFKA_NODE_ID);
      expect(Number(voter![3])).toBe(bound.get(controller)!.port);
    });

    test('has a healthcheck', () => {
      expect(services.kafka!.healthcheck).toBeDefined();
    });
  });

  describe('schema registry', () => {
    const env = services['schema-registry']!.environment;

    test('BACKWARD global compatibility and canonical hash lookups, like a Confluent registry', () => {
      expect(env.APICURIO_RULES_GLOBAL_COMPATIBILITY).toBe('BACKWARD');
      expect(env.APICURIO_CCOMPAT_USE_CANONICAL_HASH).toBe('true');
    });

    test('its healthcheck asks the ccompat API on the port it listens on', () => {
      const port = env.QUARKUS_HTTP_PORT ?? '8080';
      expect(JSON.stringify(services['schema-registry']!.healthcheck)).toContain(`localhost:${port}/apis/ccompat/v7/`);
    });

    test('its Kafka storage, if used, points at an advertised in-network listener', () => {
      if (env.APICURIO_STORAGE_KIND !== 'kafkasql') return;
      const advertised = [...listeners(services.kafka!.environment.KAFKA_ADVERTISED_LISTENERS).values()].map((a) => `${a.host}:${a.port}`);
      expect(advertised).toContain(env.APICURIO_KAFKASQL_BOOTSTRAP_SERVERS);
      expect(services['schema-registry']!.depends_on.kafka).toBe('service_healthy');
    });
  });

  describe.each(APP_SERVICES)('%s', (name) => {
    const svc = services[name]!;
    const env = svc.environment;

    test('runs the built CLI from the repository on node 20', () => {
      expect(svc.image).toBe('node:20-bookworm-slim');
      expect(svc.working_dir).toBe('/app');
      expect(svc.volumes.some((v) => v.split(':')[1] === '/app')).toBe(true);
      expect(CLI).toBe('dist/src/cli/main.js');
      const expected = name === 'producer' ? `node ${CLI} produce --source binance --all` : `node ${CLI} work`;
      expect(commandLine(svc)).toBe(expected);
    });

    test('every environment variable is one of our settings (or an explicitly allowed standard one)', () => {
      const ours = new Set(describeSettings().map((s) => s.env));
      const unknown = Object.keys(env).filter((k) => !ours.has(k) && !STANDARD_ENV.has(k));
      expect(unknown).toEqual([]);
      // Connection settings must be given: without them the app would start its own embedded stack.
      expect(Object.keys(env)).toEqual(expect.arrayContaining(['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL']));
      // And their values pass our own validation.
      expect(() => loadConfig(env)).not.toThrow();
    });

    test('KAFKA_BROKERS is what Kafka advertises on the compose network', () => {
      const kafkaEnv = services.kafka!.environment;
      const advertised = listeners(kafkaEnv.KAFKA_ADVERTISED_LISTENERS);
      const brokers = loadConfig(env).brokers!;
      expect(brokers.length).toBeGreaterThan(0);
      for (const b of brokers) {
        const match = [...advertised.entries()].find(([, a]) => `${a.host}:${a.port}` === b);
        expect({ broker: b, advertisedBy: match?.[0] }).toEqual({ broker: b, advertisedBy: expect.any(String) });
        // Reachable from another container: the host is the kafka service, not localhost.
        expect(b.split(':')[0]).toBe('kafka');
      }
    });

    test('SCHEMA_REGISTRY_URL points at the registry service, its listening port and the ccompat API', () => {
      const url = new URL(loadConfig(env).schemaRegistryUrl!);
      const registryPort = Number(services['schema-registry']!.environment.QUARKUS_HTTP_PORT ?? 8080);
      expect(url.hostname).toBe('schema-registry');
      expect(Number(url.port || (url.protocol === 'https:' ? 443 : 80))).toBe(registryPort);
      expect(url.pathname).toBe('/apis/ccompat/v7');
    });

    test('starts only after Kafka and the registry are healthy and the build succeeded', () => {
      expect(svc.depends_on).toEqual({
        kafka: 'service_healthy',
        'schema-registry': 'service_healthy',
        build: 'service_completed_successfully',
      });
    });
  });

  test('the build service installs and builds into the volume the app services run from', () => {
    const build = services.build!;
    expect(build.image).toBe('node:20-bookworm-slim');
    expect(commandLine(build)).toMatch(/npm ci && npm run build$/);
    const appVolume = services.producer!.volumes.find((v) => v.endsWith(':/app'))!;
    expect(build.volumes).toContain(appVolume);
    expect(build.working_dir).toBe('/app');
  });

  test('every service someone waits on with service_healthy has a healthcheck', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const [dep, condition] of Object.entries(svc.depends_on)) {
        expect(services[dep]).toBeDefined();
        if (condition === 'service_healthy') expect({ name, dep, healthcheck: services[dep]!.healthcheck !== undefined }).toEqual({ name, dep, healthcheck: true });
      }
    }
  });
});
