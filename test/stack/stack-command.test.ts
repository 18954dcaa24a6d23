import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../src/cli/main';
import { formatReport, statusExitCode } from '../../src/cli/stack-command';
import { loadConfig } from '../../src/config/config';
import { isKlinestreamError } from '../../src/errors';
import { createLogger } from '../../src/observability/log';
import { findRegistryJar } from '../../src/stack/fetch';
import { portIsFree } from '../../src/stack/probes';
import { resolveConnection, type ServiceReport } from '../../src/stack/stack';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
  return { out, err, restore: () => (o.mockRestore(), e.mockRestore()) };
}

async function run(argv: string[]) {
  const c = capture();
  try {
    const code = await main(argv);
    return { code, out: c.out.join(''), err: c.err.join('') };
  } finally {
    c.restore();
  }
}

describe('klinestream stack (usage)', () => {
  it('prints help and exits 0', async () => {
    const r = await run(['stack', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: klinestream stack up|down|status');
  });

  it.each([
    [['stack'], /expected one of up\|down\|status\|fetch/],
    [['stack', 'sideways'], /unknown subcommand "sideways"/],
    [['stack', 'up', 'now'], /unexpected argument "now"/],
    [['stack', 'status', '--purge'], /--purge applies to stack down only/],
    [['stack', 'down', '--timeout', '5'], /--timeout applies to stack up only/],
    [['stack', 'up', '--timeout', 'soon'], /--timeout expects a whole number/],
    [['stack', 'up', '--bogus'], /Unknown option '--bogus'/],
    [['stack', 'status', '--stack-kafka-port', '70000'], /outside 1\.\.65535/],
    [['stack', 'status', '--registry-java-home', '/nonexistent/jdk'], /--registry-java-home: \/nonexistent\/jdk has no bin\/java/],
  ])('%j is a usage error (exit 2) saying what is wrong', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
  });

  it('lists the stack command in the top-level help as implemented', async () => {
    const r = await run(['--help']);
    const line = r.out.split('\n').find((l) => l.trim().startsWith('stack '));
    expect(line).toBeDefined();
    expect(line).not.toContain('not implemented');
  });
});

describe('status lines', () => {
  const base = { logFile: '/c/logs/kafka.log' };
  const kafka = { ...base, service: 'kafka', label: 'kafka', address: '127.0.0.1:19092' } as const;
  const registry = { ...base, service: 'registry', label: 'schema-registry', address: 'http://127.0.0.1:18081/apis/ccompat/v7' } as const;
  it.each<[ServiceReport, string]>([
    [{ ...kafka, state: 'up', pid: 123 }, 'kafka 127.0.0.1:19092 up (pid 123)'],
    [{ ...registry, state: 'down' }, 'schema-registry http://127.0.0.1:18081/apis/ccompat/v7 down'],
    [{ ...kafka, state: 'up', pid: 7, action: 'started', elapsedMs: 5100 }, 'kafka 127.0.0.1:19092 up (pid 7, started in 5.1 s)'],
    [{ ...kafka, state: 'up', pid: 7, action: 'already-running' }, 'kafka 127.0.0.1:19092 up (pid 7, already running)'],
    [{ ...kafka, state: 'not-answering', pid: 9 }, 'kafka 127.0.0.1:19092 not answering (pid 9; see /c/logs/kafka.log)'],
    [{ ...kafka, state: 'down', action: 'stopped', pid: 9, elapsedMs: 600 }, 'kafka 127.0.0.1:19092 stopped (pid 9, in 0.6 s)'],
    [{ ...kafka, state: 'down', action: 'not-running' }, 'kafka 127.0.0.1:19092 was not running'],
    [{ ...registry, state: 'up', pid: 123, detail: 'apicurio 3.3.3 on java 25' }, 'schema-registry http://127.0.0.1:18081/apis/ccompat/v7 up (pid 123, apicurio 3.3.3 on java 25)'],
    [
      { ...registry, state: 'up', pid: 8, action: 'started', elapsedMs: 6200, detail: 'apicurio 3.3.3 on java 25' },
      'schema-registry http://127.0.0.1:18081/apis/ccompat/v7 up (pid 8, apicurio 3.3.3 on java 25, started in 6.2 s)',
    ],
    [
      { ...registry, state: 'up', pid: 9, action: 'restarted', elapsedMs: 7000, detail: 'apicurio 3.3.3 on java 25', replaced: 'apicurio 3.0.9 on java 17' },
      'schema-registry http://127.0.0.1:18081/apis/ccompat/v7 up (pid 9, apicurio 3.3.3 on java 25, restarted in 7.0 s, replacing apicurio 3.0.9 on java 17)',
    ],
    [
      { ...registry, state: 'up', pid: 5, detail: 'apicurio 3.0.9 on java 17', wanted: 'apicurio 3.3.3 on java 25' },
      'schema-registry http://127.0.0.1:18081/apis/ccompat/v7 up (pid 5, apicurio 3.0.9 on java 17, `stack up` would replace it with apicurio 3.3.3 on java 25)',
    ],
  ])('%j', (report, line) => {
    expect(formatReport(report)).toBe(line);
  });
});

describe('stack status exit code', () => {
  const kafka = { service: 'kafka', label: 'kafka', address: '127.0.0.1:19092', logFile: '/c/logs/kafka.log' } as const;
  const registry = { service: 'registry', label: 'schema-registry', address: 'http://127.0.0.1:18081/apis/ccompat/v7', logFile: '/c/logs/registry.log' } as const;
  it.each<[string, ServiceReport[], 0 | 1]>([
    ['both up', [{ ...kafka, state: 'up', pid: 1 }, { ...registry, state: 'up', pid: 2 }], 0],
    ['up, registry of another release that `up` would replace', [{ ...kafka, state: 'up', pid: 1 }, { ...registry, state: 'up', pid: 2, wanted: 'apicurio 3.3.3 on java 25' }], 0],
    ['something else answers on a port', [{ ...kafka, state: 'foreign' }, { ...registry, state: 'up', pid: 2 }], 0],
    ['kafka down', [{ ...kafka, state: 'down' }, { ...registry, state: 'up', pid: 2 }], 1],
    ['registry not answering', [{ ...kafka, state: 'up', pid: 1 }, { ...registry, state: 'not-answering', pid: 2 }], 1],
    ['both down', [{ ...kafka, state: 'down' }, { ...registry, state: 'down' }], 1],
  ])('%s => %d', (_, reports, code) => {
    expect(statusExitCode(reports)).toBe(code);
  });

  it('`stack status` of a stack that is not running prints both as down, unchanged, and exits 1', async () => {
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-status-'));
    try {
      const ports: number[] = [];
      for (let p = 20_000 + Math.floor(Math.random() * 10_000); ports.length < 4; p++) if (await portIsFree(p)) ports.push(p);
      const [k, c, r, m] = ports.map(String) as [string, string, string, string];
      const res = await run([
        'stack', 'status', '--cache-dir', cacheDir,
        '--stack-kafka-port', k, '--stack-controller-port', c, '--stack-registry-port', r, '--stack-registry-management-port', m,
      ]);
      expect(res.out).toBe(`kafka 127.0.0.1:${k} down\nschema-registry http://127.0.0.1:${r}/apis/ccompat/v7 down\n`);
      expect(res.code).toBe(1);
    } finally {
      fs.rmSync(cacheDir, { recursive: true, force: true });
    }
  }, 30_000);

  it('documents the exit codes in the help', async () => {
    const r = await run(['stack', '--help']);
    expect(r.out).toMatch(/status .*exit 0 when both answer,\s+1 when either is down or not answering/);
  });
});

describe('resolveConnection', () => {
  const log = createLogger({ level: 'error' });

  it('uses the configured services as they are and starts nothing', async () => {
    // A cache dir that does not exist: touching the stack at all would create it.
    const cacheDir = path.join(os.tmpdir(), `klinestream-never-${process.pid}`);
    const config = loadConfig({ KAFKA_BROKERS: 'k1:9092,k2:9092', SCHEMA_REGISTRY_URL: 'http://sr:8081/apis/ccompat/v7', KLINESTREAM_CACHE_DIR: cacheDir });
    await expect(resolveConnection(config, log)).resolves.toEqual({
      brokers: ['k1:9092', 'k2:9092'], schemaRegistryUrl: 'http://sr:8081/apis/ccompat/v7', embedded: false,
    });
    expect(fs.existsSync(cacheDir)).toBe(false);
  });

  it.each([
    [{ KAFKA_BROKERS: 'k1:9092' }, 'SCHEMA_REGISTRY_URL'],
    [{ SCHEMA_REGISTRY_URL: 'http://sr:8081' }, 'KAFKA_BROKERS'],
  ])('refuses half a configuration (%j) with a config error naming the missing setting', async (env, missing) => {
    const err = await resolveConnection(loadConfig(env), log).catch((e: unknown) => e);
    expect(isKlinestreamError(err) && err.code).toBe('CONFIG_INVALID');
    expect(isKlinestreamError(err) && err.exitCode).toBe(2);
    expect((err as Error).message).toMatch(new RegExp(`^${missing}: `));
  });
});

describe('findRegistryJar', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-jar-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds the launcher of every Apicurio archive layout', () => {
    expect(findRegistryJar(dir)).toBeUndefined();
    fs.writeFileSync(path.join(dir, 'apicurio-registry-app-3.0.9-runner.jar'), '');
    expect(findRegistryJar(dir)).toBe(path.join(dir, 'apicurio-registry-app-3.0.9-runner.jar'));
    fs.mkdirSync(path.join(dir, 'quarkus-app'));
    fs.writeFileSync(path.join(dir, 'quarkus-app', 'quarkus-run.jar'), '');
    expect(findRegistryJar(dir)).toBe(path.join(dir, 'quarkus-app', 'quarkus-run.jar'));
    fs.writeFileSync(path.join(dir, 'quarkus-run.jar'), '');
    expect(findRegistryJar(dir)).toBe(path.join(dir, 'quarkus-run.jar'));
  });
});
