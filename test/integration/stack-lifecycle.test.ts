/**
 * A private stack (its own cache dir and ports, sharing only the downloaded jars) taken through the
 * life cycle that the shared one must not be put through while other tests use it: concurrent `up`,
 * kill -9, a hung JVM, and `down` leaving no JVM behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig, type Config } from '../../src/config/config';
import { createLogger } from '../../src/observability/log';
import { findPathJava, systemJavaFs } from '../../src/stack/java';
import { STACK_VERSIONS, stackLayout } from '../../src/stack/layout';
import { findProcesses, isAlive, readPidFile, waitForExit } from '../../src/stack/proc';
import { chooseRegistry, describeRegistryRuntime, registryPlan } from '../../src/stack/registry';
import { stackDown, stackFetch, stackStatus, stackUp } from '../../src/stack/stack';
import { expectSuccess, privateStackEnv, runCli } from './helpers';

const embedded = process.env.KLINESTREAM_TEST_STACK === 'embedded';
const whenEmbedded = embedded ? it : it.skip;

describe('local stack life cycle (private instance)', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let config: Config;
  let shared: Config;
  const log = createLogger({ level: 'error' });

  beforeAll(async () => {
    if (!embedded) return;
    ({ dir, env } = await privateStackEnv('klinestream-stack-'));
    shared = loadConfig({ ...process.env, KAFKA_BROKERS: undefined, SCHEMA_REGISTRY_URL: undefined });
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
    // On failure, show what the command said (its message carries the tail of the service log).
    expectSuccess(a);
    expectSuccess(b);
    const lines = (a.stdout + b.stdout).trim().split('\n');
    expect(lines.filter((l) => /^kafka .* up \(pid \d+, started in/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /^kafka .* up \(pid \d+, already running\)$/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /^schema-registry .* up \(pid \d+, apicurio [^,]+ on java \d+, started in/.test(l))).toHaveLength(1);
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
    expectSuccess(down);
    expect(down.stdout).toMatch(/^kafka .* stopped \(pid \d+/m);
    expect(down.stdout).toMatch(/^schema-registry .* stopped \(pid \d+/m);
    expect(jvms()).toEqual({ kafka: [], registry: [] });
    expect(fs.existsSync(layout.pidFile('kafka'))).toBe(false);
    expect(fs.existsSync(layout.pidFile('registry'))).toBe(false);

    const status = await runCli(['stack', 'status'], env);
    // Down is not answering: `status` says so in its exit code (1), for scripts and health checks.
    expect({ code: status.code, stderr: status.stderr }).toEqual({ code: 1, stderr: '' });
    expect(status.stdout).toMatch(/^kafka 127\.0\.0\.1:\d+ down$/m);
    expect(status.stdout).toMatch(/^schema-registry http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7 down$/m);
  }, 300_000);

  const CONTENT_TYPE = { 'Content-Type': 'application/vnd.schemaregistry.v1+json' };
  const registryApi = () => `http://127.0.0.1:${config.stack.registryPort}/apis/ccompat/v7`;
  const schemaOf = (name: string) => JSON.stringify({ type: 'record', name, namespace: 'klinestream.test', fields: [{ name: 'a', type: 'int' }] });
  async function register(subject: string, schema: string): Promise<number> {
    const res = await fetch(`${registryApi()}/subjects/${subject}/versions`, { method: 'POST', headers: CONTENT_TYPE, body: JSON.stringify({ schema }) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { id: number }).id;
  }
  async function schemaById(id: number): Promise<{ status: number; schema?: string }> {
    const res = await fetch(`${registryApi()}/schemas/ids/${id}`);
    return res.status === 200 ? { status: 200, schema: ((await res.json()) as { schema: string }).schema } : { status: res.status };
  }

  /** Literal text inside a RegExp (runtime descriptions contain dots). */
  const lit = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  whenEmbedded('keeps schema ids across `down` + `up`, and `up` replaces a registry of another release, saying so', async () => {
    const chosen = registryPlan(config);
    const chosenRuntime = describeRegistryRuntime(chosen.version, chosen.javaMajor);
    const layout = stackLayout(dir);

    // The registry's database is on disk: ids keep naming the same schemas after a restart, and new
    // schemas get new ids (an in-memory registry would hand id 1 out again).
    const up1 = await runCli(['stack', 'up'], env);
    expectSuccess(up1);
    expect(up1.stdout).toMatch(new RegExp(`^schema-registry .* up \\(pid \\d+, ${lit(chosenRuntime)}, started in`, 'm'));
    const a = schemaOf('A');
    const idA = await register('ids-a-value', a);
    const idB = await register('ids-b-value', schemaOf('B'));
    // Canonical hashing: the same schema written with other whitespace is the same schema.
    expect(await register('ids-a-value', JSON.stringify(JSON.parse(a), null, 2))).toBe(idA);
    expect(fs.existsSync(path.join(layout.registryDataDir(chosen.version), 'registry.mv.db'))).toBe(true);

    expectSuccess(await runCli(['stack', 'down'], env));
    expectSuccess(await runCli(['stack', 'up'], env));
    expect(await schemaById(idA)).toEqual({ status: 200, schema: a });
    expect(await register('ids-a-value', a)).toBe(idA);
    const idC = await register('ids-c-value', schemaOf('C'));
    expect([idA, idB]).not.toContain(idC);

    // Another release than the chosen one is running (here: the Java 17 fallback, which every machine can
    // run); that needs a Java 21+ for the chosen one, which a Java-17-only machine does not have.
    if (chosen.fallback) return;
    const fallback = chooseRegistry({ registryJava: undefined, defaultJava: findPathJava(process.env.PATH, systemJavaFs) });
    const fallbackRuntime = describeRegistryRuntime(STACK_VERSIONS.apicurioOnJava17, fallback.javaMajor);
    // Fetched through the shared cache dir (and its fetch lock): the private artifacts dir is a link to it.
    await stackFetch(shared, log, fallback);
    // A database from before databases were per version is 3.0.9's, and moves to its directory.
    fs.mkdirSync(layout.legacyRegistryDataDir, { recursive: true });
    fs.writeFileSync(path.join(layout.legacyRegistryDataDir, 'legacy-marker'), '');
    const kafkaPid = readPidFile(layout.pidFile('kafka'));
    const switched = await stackUp(config, log, { registry: fallback });
    expect(switched[0]).toMatchObject({ service: 'kafka', action: 'already-running', pid: kafkaPid });
    expect(switched[1]).toMatchObject({ service: 'registry', state: 'up', action: 'restarted', detail: fallbackRuntime, replaced: chosenRuntime });
    expect(fs.existsSync(layout.legacyRegistryDataDir)).toBe(false);
    expect(fs.existsSync(path.join(layout.registryDataDir(STACK_VERSIONS.apicurioOnJava17), 'legacy-marker'))).toBe(true);
    // Its own database: the other release's ids mean nothing here.
    expect((await schemaById(idA)).status).toBe(404);

    // `status` (deciding as usual) points out that `up` would switch back; `up` does, and says so.
    const status = await runCli(['stack', 'status'], env);
    expect(status.stdout).toMatch(new RegExp(`^schema-registry .* up \\(pid \\d+, ${lit(fallbackRuntime)}, \`stack up\` would replace it with ${lit(chosenRuntime)}\\)$`, 'm'));
    const back = await runCli(['stack', 'up'], env);
    expectSuccess(back);
    expect(back.stdout).toMatch(new RegExp(`^schema-registry .* up \\(pid \\d+, ${lit(chosenRuntime)}, restarted in [\\d.]+ s, replacing ${lit(fallbackRuntime)}\\)$`, 'm'));
    expect(back.stdout).toMatch(/^kafka .* up \(pid \d+, already running\)$/m);
    expect(await schemaById(idA)).toEqual({ status: 200, schema: a });
    expect(jvms().registry).toHaveLength(1);

    expectSuccess(await runCli(['stack', 'down'], env));
    expect(jvms()).toEqual({ kafka: [], registry: [] });
  }, 300_000);
});
