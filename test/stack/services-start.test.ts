/**
 * Storage formatting and service startup failures without a JVM: a fake `java` on PATH that parses its
 * arguments the way Kafka's StorageTool (argparse4j) does, and a shell standing in for a service.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../src/config/config';
import { isKlinestreamError } from '../../src/errors';
import { createLogger } from '../../src/observability/log';
import type { Artifacts } from '../../src/stack/fetch';
import { TAIL_LINES } from '../../src/stack/failure';
import { parseProperties } from '../../src/stack/kafka-properties';
import { stackLayout } from '../../src/stack/layout';
import { isAlive, readPidFile } from '../../src/stack/proc';
import type { RegistryPlan } from '../../src/stack/registry';
import { stackServices, startService, type Service } from '../../src/stack/services';

const log = createLogger({ level: 'error' });
const LEADING_DASH_ID = '-6Evg2PFSsMy-kBRtfcJ3Q';

/**
 * `java ... kafka.tools.StorageTool format ...` as far as the stack uses it: an option value that begins
 * with '-' is not taken as a value (argparse4j's "expected one argument", exit 1); `--opt=value` always
 * is. FAKE_JAVA_FAIL=1 makes it fail after printing 30 lines.
 */
const FAKE_JAVA = `#!/bin/sh
printf '%s\\n' "$@" > "$FAKE_JAVA_ARGS"
id=""; cfg=""; prev=""
for a in "$@"; do
  case "$prev" in
    -t|--cluster-id)
      case "$a" in
        -*) echo "usage: kafka-storage format [-h] --config CONFIG --cluster-id CLUSTER_ID" >&2
            echo "kafka-storage: error: argument --cluster-id/-t: expected one argument" >&2
            exit 1 ;;
        *) id="$a" ;;
      esac ;;
    -c|--config) cfg="$a" ;;
  esac
  case "$a" in
    --cluster-id=*) id="\${a#--cluster-id=}" ;;
    --config=*) cfg="\${a#--config=}" ;;
  esac
  prev="$a"
done
if [ "$FAKE_JAVA_FAIL" = 1 ]; then
  i=1; while [ $i -le 30 ]; do echo "noise line $i"; i=$((i + 1)); done
  echo "ERROR: simulated failure for $id" >&2
  exit 3
fi
dir=$(sed -n 's/^log.dirs=//p' "$cfg")
mkdir -p "$dir"
printf 'version=1\\nnode.id=1\\ncluster.id=%s\\n' "$id" > "$dir/meta.properties"
`;

const PLAN: RegistryPlan = { version: '3.0.9', javaBin: 'java', javaMajor: 17, javaSource: 'PATH', fallback: true };

describe('formatting Kafka storage (fake StorageTool)', () => {
  let dir: string;
  let bin: string;
  let argsFile: string;
  const saved = { PATH: process.env.PATH, FAKE_JAVA_ARGS: process.env.FAKE_JAVA_ARGS, FAKE_JAVA_FAIL: process.env.FAKE_JAVA_FAIL };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-format-'));
    bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'java'), FAKE_JAVA, { mode: 0o755 });
    argsFile = path.join(dir, 'java-args');
    process.env.PATH = `${bin}:/usr/bin:/bin`;
    process.env.FAKE_JAVA_ARGS = argsFile;
    delete process.env.FAKE_JAVA_FAIL;
  });
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const cache = () => path.join(dir, 'cache');
  const layout = () => stackLayout(cache());
  const kafka = () => stackServices(loadConfig({ KLINESTREAM_CACHE_DIR: cache() }), PLAN)[0]!;
  const artifacts = (): Artifacts => ({ kafkaLibs: path.join(dir, 'libs'), registryVersion: PLAN.version, registryJar: path.join(dir, 'registry.jar') });
  const toolArgs = () => {
    const argv = fs.readFileSync(argsFile, 'utf8').trimEnd().split('\n');
    return argv.slice(argv.indexOf('kafka.tools.StorageTool') + 1);
  };
  const formattedId = () => parseProperties(fs.readFileSync(path.join(layout().kafkaDataDir, 'meta.properties'), 'utf8')).get('cluster.id');
  const writeIdFile = (id: string) => {
    fs.mkdirSync(layout().dataDir, { recursive: true });
    fs.writeFileSync(layout().clusterIdFile, `${id}\n`);
  };

  it('replaces a leading-dash id of the cluster-id file (storage never formatted) and formats with a fresh one', async () => {
    writeIdFile(LEADING_DASH_ID);
    const { args } = await kafka().prepare(artifacts(), log);
    const id = formattedId()!;
    expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    expect(id).not.toBe(LEADING_DASH_ID);
    expect(fs.readFileSync(layout().clusterIdFile, 'utf8')).toBe(`${id}\n`);
    expect(toolArgs()).toEqual(['format', `--cluster-id=${id}`, `--config=${layout().serverProperties}`, '--ignore-formatted']);
    expect(args.slice(-2)).toEqual(['kafka.Kafka', layout().serverProperties]);
  });

  it('keeps a usable id of the cluster-id file, passing every value attached to its option', async () => {
    writeIdFile('P5rbEqe78JyszWGB7Jj-Yw');
    await kafka().prepare(artifacts(), log);
    expect(formattedId()).toBe('P5rbEqe78JyszWGB7Jj-Yw');
    expect(toolArgs()).toContain('--cluster-id=P5rbEqe78JyszWGB7Jj-Yw');
    expect(fs.readFileSync(layout().clusterIdFile, 'utf8')).toBe('P5rbEqe78JyszWGB7Jj-Yw\n');
  });

  it('writes a new cluster-id file only once the storage is formatted, and skips formatting when it is', async () => {
    await kafka().prepare(artifacts(), log);
    const id = formattedId()!;
    expect(fs.readFileSync(layout().clusterIdFile, 'utf8')).toBe(`${id}\n`);
    fs.rmSync(argsFile);
    await kafka().prepare(artifacts(), log);
    expect(fs.existsSync(argsFile)).toBe(false);
    expect(formattedId()).toBe(id);
  });

  it('fails with the exit code and the tool output tail in the message, and drops the id it could not format', async () => {
    writeIdFile('P5rbEqe78JyszWGB7Jj-Yw');
    process.env.FAKE_JAVA_FAIL = '1';
    const err = await kafka().prepare(artifacts(), log).catch((e: unknown) => e);
    expect(isKlinestreamError(err) && err.code).toBe('STACK_START_FAILED');
    const message = (err as Error).message;
    const logFile = layout().logFile('kafka');
    expect(message.split('\n').slice(0, 2)).toEqual([
      'formatting Kafka storage (cluster id P5rbEqe78JyszWGB7Jj-Yw) failed (exit code 3)',
      `--- last ${TAIL_LINES} lines of its output (also in ${logFile}) ---`,
    ]);
    expect(message).toContain('ERROR: simulated failure for P5rbEqe78JyszWGB7Jj-Yw');
    expect(message).toContain('noise line 30');
    expect(message).not.toMatch(/^noise line 1$/m);
    // The header line we write before the tool runs is not its output.
    expect(message).not.toContain('# ');
    expect(fs.existsSync(layout().clusterIdFile)).toBe(false);

    // The next attempt is not stuck with that id.
    delete process.env.FAKE_JAVA_FAIL;
    await kafka().prepare(artifacts(), log);
    expect(formattedId()).not.toBe('P5rbEqe78JyszWGB7Jj-Yw');
  });

  it('says that java is missing when it is', async () => {
    process.env.PATH = path.join(dir, 'empty-bin');
    const err = await kafka().prepare(artifacts(), log).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^formatting Kafka storage \(cluster id [^)]+\) failed \(could not run java: .*ENOENT.*not on PATH/);
  });
});

describe('startService failures (a shell standing in for a JVM)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-start-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function fakeService(script: string): Service {
    return {
      name: 'kafka',
      label: 'kafka',
      address: '127.0.0.1:1',
      ports: [],
      logFile: path.join(dir, 'logs', 'kafka.log'),
      pidFile: path.join(dir, 'run', 'kafka.pid'),
      markers: [`-Dklinestream.test.home=${dir}`],
      probe: () => Promise.resolve({ ok: false, error: 'connection refused' }),
      prepare: () => Promise.resolve({ command: 'sh', args: ['-c', script, `-Dklinestream.test.home=${dir}`], cwd: dir }),
      stopTimeoutMs: 5000,
    };
  }
  const artifacts: Artifacts = { kafkaLibs: '/nonexistent', registryVersion: '3.0.9', registryJar: '/nonexistent.jar' };

  it('an exit during startup names the exit code and carries the last lines of the output', async () => {
    const service = fakeService('i=1; while [ $i -le 40 ]; do echo "boot line $i"; i=$((i + 1)); done; echo "FATAL: port in use" >&2; exit 7');
    const err = await startService(service, artifacts, log, 30_000).catch((e: unknown) => e);
    const message = (err as Error).message;
    expect(message.split('\n').slice(0, 2)).toEqual([
      'kafka exited during startup (exit code 7)',
      `--- last ${TAIL_LINES} lines of its output (also in ${service.logFile}) ---`,
    ]);
    expect(message.split('\n').at(-1)).toBe('FATAL: port in use');
    expect(message).toContain('boot line 40');
    expect(message).not.toMatch(/^boot line 1$/m);
    expect(fs.existsSync(service.pidFile)).toBe(false);
  });

  it('a timeout stops the process again and carries what it printed', async () => {
    const service = fakeService('echo "waiting for the controller quorum"; exec sleep 60');
    const err = await startService(service, artifacts, log, 1000).catch((e: unknown) => e);
    const message = (err as Error).message;
    expect(message).toMatch(/^kafka did not answer on 127\.0\.0\.1:1 within 1 s \(last error: connection refused\); stopped it again\n/);
    expect(message).toContain(`--- last line of its output (also in ${service.logFile}) ---\nwaiting for the controller quorum`);
    expect(readPidFile(service.pidFile)).toBeUndefined();
  }, 20_000);

  it('leaves no process behind after a timeout', async () => {
    const service = fakeService('echo started; exec sleep 60');
    let pid: number | undefined;
    const origProbe = service.probe;
    service.probe = (t) => {
      pid ??= readPidFile(service.pidFile);
      return origProbe(t);
    };
    await startService(service, artifacts, log, 500).catch(() => undefined);
    expect(pid).toBeDefined();
    expect(isAlive(pid!)).toBe(false);
  }, 20_000);
});
