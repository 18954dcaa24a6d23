/**
 * A private stack (its own cache dir and ports, sharing only the downloaded jars) taken through the
 * life cycle that the shared one must not be put through while other tests use it: concurrent `up`,
 * kill -9, a hung JVM, and `down` leaving no JVM behind.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, type Config } from '../../src/config/config';
import { createLogger } from '../../src/observability/log';
import { stackLayout } from '../../src/stack/layout';
import { findProcesses, isAlive, readPidFile, waitForExit } from '../../src/stack/proc';
import { stackDown, stackStatus, stackUp } from '../../src/stack/stack';
import { freePort, runCli } from './helpers';

const embedded = process.env.KLINESTREAM_TEST_STACK === 'embedded';
const whenEmbedded = embedded ? it : it.skip;

describe('local stack life cycle (private instance)', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let config: Config;
  const log = createLogger({ level: 'error' });

  beforeAll(async () => {
    if (!embedded) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-stack-'));
    // Reuse the shared download (global-setup fetched it) instead of fetching 160 MB again.
    const shared = loadConfig({ ...process.env, KAFKA_BROKERS: undefined, SCHEMA_REGISTRY_URL: undefined });
    fs.symlinkSync(path.join(shared.cacheDir, 'artifacts'), path.join(dir, 'artifacts'));
    const [kafkaPort, controllerPort, registryPort, registryManagementPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    env = {
      ...process.env,
      KAFKA_BROKERS: '',
      SCHEMA_REGISTRY_URL: '',
      KLINESTREAM_CACHE_DIR: dir,
      KLINESTREAM_STACK_KAFKA_PORT: String(kafkaPort),
      KLINESTREAM_STACK_CONTROLLER_PORT: String(controllerPort),
      KLINESTREAM_STACK_REGISTRY_PORT: String(registryPort),
      KLINESTREAM_STACK_REGISTRY_MANAGEMENT_PORT: String(registryManagementPort),
    };
    config = loadConfig(env);
  });

  afterAll(async () => {
    if (!embedded) return;
    // Whatever happened above, leave no JVM of this private stack behind.
    await stackDown(config, log).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const jvms = () => ({
    kafka: findProcesses([`-Dklinestream.stack.home=${dir}`, '-Dklinestream.stack.service=kafka']),
    registry: findProcesses([`-Dklinestream.stack.home=${dir}`, '-Dklinestream.stack.service=registry']),
  });

  whenEmbedded('starts once under concurrent `up`, recovers from kill -9 and a hung JVM, and `down` leaves no JVM', async () => {
    const layout = stackLayout(dir);
    expect((await stackStatus(config)).map((r) => r.state)).toEqual(['down', 'down']);

    // Two `stack up` at once (two terminals, two jest runs): the lock makes one start, the other reuse.
    const [a, b] = await Promise.all([runCli(['stack', 'up'], env), runCli(['stack', 'up'], env)]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const lines = (a.stdout + b.stdout).trim().split('\n');
    expect(lines.filter((l) => /^kafka .* up \(pid \d+, started in/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /^kafka .* up \(pid \d+, already running\)$/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /^schema-registry .* up \(pid \d+, started in/.test(l))).toHaveLength(1);
    expect(jvms().kafka).toHaveLength(1);
    expect(jvms().registry).toHaveLength(1);
    const kafkaPid = readPidFile(layout.pidFile('kafka'))!;
    const registryPid = readPidFile(layout.pidFile('registry'))!;
    expect(jvms()).toEqual({ kafka: [kafkaPid], registry: [registryPid] });

    // kill -9: the pid file now names a dead process; `up` cleans it and starts afresh.
    process.kill(-kafkaPid, 'SIGKILL');
    expect(await waitForExit(kafkaPid, 10_000)).toBe(true);
    expect((await stackStatus(config)).map((r) => r.state)).toEqual(['down', 'up']);
    const afterKill = await stackUp(config, log);
    expect(afterKill[0]).toMatchObject({ service: 'kafka', state: 'up', action: 'started' });
    expect(afterKill[0]!.pid).not.toBe(kafkaPid);
    expect(afterKill[1]).toMatchObject({ service: 'registry', action: 'already-running', pid: registryPid });

    // Alive but not answering (a stopped JVM stands for a hung one): `up` stops it and starts another.
    process.kill(registryPid, 'SIGSTOP');
    const statusHung = await stackStatus(config);
    expect(statusHung[1]).toMatchObject({ state: 'not-answering', pid: registryPid });
    const afterHang = await stackUp(config, log);
    expect(afterHang[1]).toMatchObject({ service: 'registry', state: 'up', action: 'restarted' });
    expect(isAlive(registryPid)).toBe(false);

    const down = await runCli(['stack', 'down'], env);
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/^kafka .* stopped \(pid \d+/m);
    expect(down.stdout).toMatch(/^schema-registry .* stopped \(pid \d+/m);
    expect(jvms()).toEqual({ kafka: [], registry: [] });
    expect(fs.existsSync(layout.pidFile('kafka'))).toBe(false);
    expect(fs.existsSync(layout.pidFile('registry'))).toBe(false);

    const status = await runCli(['stack', 'status'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^kafka 127\.0\.0\.1:\d+ down$/m);
    expect(status.stdout).toMatch(/^schema-registry http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7 down$/m);
  }, 300_000);
});
