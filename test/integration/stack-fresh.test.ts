/**
 * A private stack (own cache dir and ports, sharing only the downloaded jars) for what a fresh machine and
 * a health check meet: a stack directory whose cluster-id file holds an id that never formatted (the
 * leading '-' that 1 in 64 ids of the old generator had), and the exit codes of `stack status` for a
 * stack that is up, not answering (a SIGSTOPped broker) and down.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig, type Config } from '../../src/config/config';
import { createLogger } from '../../src/observability/log';
import { clusterIdProblem, parseProperties } from '../../src/stack/kafka-properties';
import { stackLayout } from '../../src/stack/layout';
import { probeKafka } from '../../src/stack/probes';
import { findProcesses, readPidFile, signalProcess, sleep } from '../../src/stack/proc';
import { stackDown } from '../../src/stack/stack';
import { builtCli, expectSuccess, privateStackEnv, runCli, type CliResult } from './helpers';

const embedded = process.env.KLINESTREAM_TEST_STACK === 'embedded';
const whenEmbedded = embedded ? it : it.skip;

/** The id of the failing CI run in issue 6: StorageTool read it as an option. */
const LEADING_DASH_ID = '-6Evg2PFSsMy-kBRtfcJ3Q';

describe('fresh private stack: unusable cluster id, `stack status` exit codes', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let config: Config;
  /** The built CLI, built (if need be) once before the tests. */
  let cli: string;
  /** A kafka JVM this test stopped with SIGSTOP, to be continued whatever happens. */
  let stopped: number | undefined;
  const log = createLogger({ level: 'error' });

  beforeAll(async () => {
    if (!embedded) return;
    ({ dir, env } = await privateStackEnv('klinestream-fresh-'));
    config = loadConfig(env);
    cli = builtCli();
  });

  afterAll(async () => {
    if (!embedded) return;
    if (stopped !== undefined) signalProcess(stopped, 'SIGCONT');
    // Whatever happened above, leave no JVM of this private stack behind.
    await stackDown(config, log).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const jvms = () => findProcesses([`-Dklinestream.stack.home=${dir}`]);

  /**
   * `klinestream stack status` of the private stack. Unlike runCli it never rebuilds dist first: a rebuild
   * (src/ edited meanwhile) while the broker is SIGSTOPped would keep it stopped long enough to be fenced,
   * and it would then take many seconds to answer again after SIGCONT.
   */
  function status(): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [cli, 'stack', 'status'], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  /** Runs `stack status` until `done` says so (a resumed JVM takes a moment to answer again). */
  async function statusUntil(done: (r: CliResult) => boolean, timeoutMs = 45_000): Promise<CliResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await status();
      if (done(r) || Date.now() >= deadline) return r;
      await sleep(250);
    }
  }

  whenEmbedded('comes up from a cluster-id file holding a leading-dash id and no formatted storage, with a fresh id', async () => {
    const layout = stackLayout(dir);
    fs.mkdirSync(layout.dataDir, { recursive: true });
    fs.writeFileSync(layout.clusterIdFile, `${LEADING_DASH_ID}\n`);
    expect(fs.existsSync(path.join(layout.kafkaDataDir, 'meta.properties'))).toBe(false);

    const up = await runCli(['stack', 'up'], env);
    // On failure this shows the message, which carries the tail of StorageTool's or the JVM's output.
    expectSuccess(up);
    expect(up.stdout).toMatch(/^kafka 127\.0\.0\.1:\d+ up \(pid \d+, started in/m);
    expect(up.stderr).toContain('replacing the unusable cluster id');

    const id = fs.readFileSync(layout.clusterIdFile, 'utf8').trim();
    expect(id).not.toBe(LEADING_DASH_ID);
    expect(clusterIdProblem(id)).toBeUndefined();
    const meta = parseProperties(fs.readFileSync(path.join(layout.kafkaDataDir, 'meta.properties'), 'utf8'));
    expect(meta.get('cluster.id')).toBe(id);
    // The broker itself runs the cluster the file names.
    expect((await probeKafka(`127.0.0.1:${config.stack.kafkaPort}`)).clusterId).toBe(id);
  }, 60_000);

  whenEmbedded('`stack status` exits 0 when up, 1 when kafka does not answer (SIGSTOP) and again 0 once it does', async () => {
    const up = await status();
    expectSuccess(up);
    expect(up.stdout).toMatch(/^kafka 127\.0\.0\.1:\d+ up \(pid \d+\)$/m);
    expect(up.stdout).toMatch(/^schema-registry http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7 up \(pid \d+/m);

    const kafkaPid = readPidFile(stackLayout(dir).pidFile('kafka'))!;
    expect(kafkaPid).toBeDefined();
    stopped = kafkaPid;
    signalProcess(kafkaPid, 'SIGSTOP');
    const hung = await status();
    expect(hung.code).toBe(1);
    // The output is what it always was: one line per service, the hung one saying so.
    expect(hung.stdout).toBe(
      `kafka 127.0.0.1:${config.stack.kafkaPort} not answering (pid ${kafkaPid}; see ${path.join(dir, 'logs', 'kafka.log')})\n` +
        up.stdout.split('\n')[1] + '\n',
    );
    expect(hung.stderr).toBe('');

    signalProcess(kafkaPid, 'SIGCONT');
    stopped = undefined;
    const back = await statusUntil((r) => r.code === 0);
    expectSuccess(back);
    expect(back.stdout).toBe(up.stdout);
  }, 90_000);

  whenEmbedded('`stack status` exits 1 when the stack is down, and `down` leaves no JVM', async () => {
    expectSuccess(await runCli(['stack', 'down'], env));
    expect(jvms()).toEqual([]);
    const down = await status();
    expect(down.code).toBe(1);
    expect(down.stdout).toBe(
      `kafka 127.0.0.1:${config.stack.kafkaPort} down\nschema-registry http://127.0.0.1:${config.stack.registryPort}/apis/ccompat/v7 down\n`,
    );
    expect(down.stderr).toBe('');
  }, 60_000);
});
