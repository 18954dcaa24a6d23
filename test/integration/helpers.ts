/**
 * Helpers for integration tests: unique names (so concurrent runs and re-runs never collide on a topic or
 * group), kafkajs clients wired to our logger, a tracker that deletes what a test created, and a way to run
 * the built CLI as users do.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Admin, ITopicConfig, Kafka } from 'kafkajs';
import { loadConfig, parseBrokers } from '../../src/config/config';
import { createKafka } from '../../src/kafka/kafkajs-logging';
import { createLogger, type Logger, type LogLevel } from '../../src/observability/log';
import { portIsFree } from '../../src/stack/probes';

/**
 * `prefix-<pid>-<random>`: the pid separates concurrent jest workers and runs, the random part separates
 * tests in one worker and re-runs. Only characters legal in topic and group names.
 */
export function uniqueName(prefix: string): string {
  const clean = prefix.replace(/[^A-Za-z0-9._-]/g, '-');
  return `${clean}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export interface TestConnection {
  brokers: string[];
  schemaRegistryUrl: string;
}

/** The addresses global-setup exported (or the external ones the developer set). */
export function testConnection(): TestConnection {
  const brokers = process.env.KAFKA_BROKERS;
  const schemaRegistryUrl = process.env.SCHEMA_REGISTRY_URL;
  if (!brokers || !schemaRegistryUrl) {
    throw new Error('KAFKA_BROKERS / SCHEMA_REGISTRY_URL are not set: run integration tests through jest (test/integration/global-setup.ts sets them)');
  }
  return { brokers: parseBrokers(brokers), schemaRegistryUrl };
}

/** Test logs: warnings and errors only unless KLINESTREAM_LOG_LEVEL says otherwise. */
export function testLogger(bindings: Record<string, unknown> = {}): Logger {
  const level = (process.env.KLINESTREAM_LOG_LEVEL as LogLevel | undefined) ?? 'warn';
  return createLogger({ level, bindings: { test: true, ...bindings } });
}

/** A kafkajs client for the test brokers whose logs go through our structured logger. */
export function testKafka(clientId = uniqueName('test-client'), log: Logger = testLogger()): Kafka {
  return createKafka({ clientId, brokers: testConnection().brokers, log });
}

/**
 * Creates topics and consumer groups on behalf of a test and deletes them all in `cleanup()` (call it in
 * afterAll/afterEach): tests must leave the shared broker as they found it.
 */
export class KafkaResources {
  private readonly topics = new Set<string>();
  private readonly groups = new Set<string>();
  private adminClient: Admin | undefined;

  constructor(private readonly kafka: Kafka = testKafka()) {}

  async admin(): Promise<Admin> {
    if (!this.adminClient) {
      this.adminClient = this.kafka.admin();
      await this.adminClient.connect();
    }
    return this.adminClient;
  }

  /** Creates uniquely named topics (`prefix-<pid>-<random>`); returns their names in order. */
  async createTopics(...specs: Array<{ prefix: string } & Omit<ITopicConfig, 'topic'>>): Promise<string[]> {
    const configs = specs.map(({ prefix, ...rest }) => ({ topic: uniqueName(prefix), numPartitions: 1, replicationFactor: 1, ...rest }));
    for (const c of configs) this.topics.add(c.topic);
    const admin = await this.admin();
    await admin.createTopics({ topics: configs, waitForLeaders: true });
    return configs.map((c) => c.topic);
  }

  /** Registers a topic created some other way (e.g. by the code under test) for deletion. */
  trackTopic(name: string): void {
    this.topics.add(name);
  }

  /** A unique group id that cleanup() deletes. */
  groupId(prefix = 'test-group'): string {
    const id = uniqueName(prefix);
    this.groups.add(id);
    return id;
  }

  trackedTopics(): string[] {
    return [...this.topics];
  }

  /** Deletes every tracked group and topic (ignoring ones already gone) and disconnects. */
  async cleanup(): Promise<void> {
    try {
      const admin = await this.admin();
      if (this.groups.size > 0) {
        const existing = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
        const groups = [...this.groups].filter((g) => existing.has(g));
        if (groups.length > 0) await admin.deleteGroups(groups);
      }
      if (this.topics.size > 0) {
        const existing = new Set(await admin.listTopics());
        const topics = [...this.topics].filter((t) => existing.has(t));
        if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 });
      }
      this.groups.clear();
      this.topics.clear();
    } finally {
      await this.adminClient?.disconnect();
      this.adminClient = undefined;
    }
  }
}

/** Below Linux's default ephemeral range (32768-60999) and above the local stack's default ports. */
const TEST_PORT_MIN = 20_000;
const TEST_PORT_SPAN = 12_000;

/**
 * `count` distinct TCP ports that nothing listens on right now, for tests that start their own services.
 * Chosen below the kernel's ephemeral range on purpose: a port the kernel hands out for `listen(0)` can be
 * handed out again as the local end of some other test's outgoing connection before our JVM binds it, and
 * the service then fails to start with "address in use".
 */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < count; tries++) {
    if (tries > 200) throw new Error(`found only ${ports.length} of ${count} free ports in ${TEST_PORT_MIN}..${TEST_PORT_MIN + TEST_PORT_SPAN - 1}`);
    const port = TEST_PORT_MIN + randomInt(TEST_PORT_SPAN);
    if (!ports.includes(port) && (await portIsFree(port))) ports.push(port);
  }
  return ports;
}

/**
 * The environment of a private local stack: its own cache dir under `tmpPrefix` (whose `artifacts` is a link
 * to the shared download, so nothing is fetched again) and four free ports. Connection settings are cleared,
 * so the stack code starts its own services.
 */
export async function privateStackEnv(tmpPrefix: string): Promise<{ dir: string; env: NodeJS.ProcessEnv }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
  const shared = loadConfig({ ...process.env, KAFKA_BROKERS: undefined, SCHEMA_REGISTRY_URL: undefined });
  fs.symlinkSync(path.join(shared.cacheDir, 'artifacts'), path.join(dir, 'artifacts'));
  const [kafkaPort, controllerPort, registryPort, registryManagementPort] = await freePorts(4);
  return {
    dir,
    env: {
      ...process.env,
      KAFKA_BROKERS: '',
      SCHEMA_REGISTRY_URL: '',
      KLINESTREAM_CACHE_DIR: dir,
      KLINESTREAM_STACK_KAFKA_PORT: String(kafkaPort),
      KLINESTREAM_STACK_CONTROLLER_PORT: String(controllerPort),
      KLINESTREAM_STACK_REGISTRY_PORT: String(registryPort),
      KLINESTREAM_STACK_REGISTRY_MANAGEMENT_PORT: String(registryManagementPort),
    },
  };
}

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * The built CLI (dist/src/cli/main.js), compiled first when missing or older than src/. Black-box tests
 * run what users run; tsc emits even with type errors elsewhere, which the typecheck step reports anyway.
 */
export function builtCli(): string {
  if (!fs.existsSync(CLI) || fs.statSync(CLI).mtimeMs < newestMtime(path.join(ROOT, 'src'))) {
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'ignore' });
    if (!fs.existsSync(CLI)) throw new Error(`could not build ${CLI}; run npm run build`);
  }
  return CLI;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Asserts that a CLI run succeeded; on failure the assertion shows what the command wrote to stderr. */
export function expectSuccess(r: CliResult): void {
  expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ code: 0, stderr: '' });
}

/** What the CLI prints when a finished command stayed alive (an open handle) until its exit grace fired. */
export const EXIT_GRACE_FIRED = /still running \d+ s after the command finished \(open: [^)]*\)/;

/**
 * Runs `klinestream <args>` as a separate process with `env` (default: this process's environment). Fails
 * when the command finished but something it left open kept the process alive until the exit grace (every
 * command must exit as soon as it is done).
 */
export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 300_000): Promise<CliResult> {
  const cli = builtCli();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // For a hang that ends in jest's timeout (whose report has no stderr): KLINESTREAM_TEST_CLI_LOG=<file>.
      if (process.env.KLINESTREAM_TEST_CLI_LOG) fs.appendFileSync(process.env.KLINESTREAM_TEST_CLI_LOG, d);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const leak = EXIT_GRACE_FIRED.exec(stderr);
      if (leak !== null) reject(new Error(`klinestream ${args[0] ?? ''} finished but stayed alive: ${leak[0]}`));
      else resolve({ code, stdout, stderr });
    });
  });
}
