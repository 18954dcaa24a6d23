/**
 * `klinestream stack up|down|status|fetch`: the embedded local Kafka broker and schema registry.
 * Exit codes: 0 ok, 2 bad usage or config, 1 runtime failure. `status` answers 0 when every service answers
 * and 1 when any is down or not answering (`statusExitCode`), so scripts and health checks can rely on it.
 */
import { loadConfig } from '../config/config';
import { UsageError } from '../errors';
import { createLogger } from '../observability/log';
import { layoutOf, STACK_VERSIONS } from '../stack/layout';
import { fallbackNotice, registryPlan } from '../stack/registry';
import { stackDown, stackFetch, stackStatus, stackUp, type ServiceReport } from '../stack/stack';
import { parseCommandArgs, stringOption } from './args';
import type { Command } from './commands';

const USAGE = `Usage: klinestream stack up|down|status|fetch [options]

  up       start a single-node Kafka (KRaft) and an Apicurio schema registry on 127.0.0.1,
           fetching their jars with Maven on first use; does nothing if they are already up
           (but replaces a running registry of another Apicurio release than the one chosen below)
  down     stop both (SIGTERM, SIGKILL after a timeout); data is kept unless --purge
  status   print both addresses and whether each answers; exit 0 when both answer,
           1 when either is down or not answering (the output is the same either way)
  fetch    only download the artifacts (warms the cache, e.g. in CI)

Options:
  --timeout SECONDS   up: how long each service may take to answer (default 180)
  --purge             down: also delete the stack's data (topics, offsets, schemas)
  --cache-dir DIR     where jars, data, logs and pid files live (KLINESTREAM_CACHE_DIR; default ~/.cache/klinestream)
  --stack-kafka-port N, --stack-controller-port N, --stack-registry-port N, --stack-registry-management-port N
                      local ports (default 19092, 19093, 18081, 18082)
  --registry-java-home DIR
                      Java 21+ home for the registry (KLINESTREAM_REGISTRY_JAVA_HOME)

The registry runs Apicurio ${STACK_VERSIONS.apicurio} on the first Java 21+ of: --registry-java-home, JAVA_HOME,
the java on PATH, the newest JDK in /usr/lib/jvm; without one, Apicurio ${STACK_VERSIONS.apicurioOnJava17} on the default java
(Java 17). Kafka always runs on the default java.

Exit codes: 0 ok, 1 runtime failure (status: a service is down or not answering), 2 bad usage or config.

Other commands use this stack whenever KAFKA_BROKERS and SCHEMA_REGISTRY_URL are unset, starting it if needed.
Logs: <cache dir>/logs/{kafka,registry,fetch}.log`;

const SUBCOMMANDS = ['up', 'down', 'status', 'fetch'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

function seconds(ms: number | undefined): string {
  return ms === undefined ? '' : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * One line per service, e.g. `kafka 127.0.0.1:19092 up (pid 123)` or
 * `schema-registry http://127.0.0.1:18081/apis/ccompat/v7 up (pid 124, apicurio 3.3.3 on java 25)`.
 */
export function formatReport(r: ServiceReport): string {
  const head = `${r.label} ${r.address}`;
  switch (r.state) {
    case 'up': {
      const notes = [`pid ${r.pid}`];
      if (r.detail !== undefined) notes.push(r.detail);
      if (r.action === 'started') notes.push(`started in ${seconds(r.elapsedMs)}`);
      if (r.action === 'restarted') notes.push(`restarted in ${seconds(r.elapsedMs)}`);
      if (r.action === 'already-running') notes.push('already running');
      if (r.replaced !== undefined) notes.push(`replacing ${r.replaced}`);
      if (r.wanted !== undefined) notes.push(`\`stack up\` would replace it with ${r.wanted}`);
      return `${head} up (${notes.join(', ')})`;
    }
    case 'foreign':
      return `${head} up (not started by this klinestream cache dir)`;
    case 'not-answering':
      return `${head} not answering (pid ${r.pid}; see ${r.logFile})`;
    case 'down':
      if (r.action === 'stopped') return `${head} stopped (pid ${r.pid}, in ${seconds(r.elapsedMs)})`;
      if (r.action === 'not-running') return `${head} was not running`;
      return `${head} down`;
  }
}

/**
 * The exit code of `stack status`: 0 when every service answers (`up`, including a registry that `stack up`
 * would replace, and `foreign`: something else answers on its port, which clients would use), 1 when any
 * is `down` or `not-answering`.
 */
export function statusExitCode(reports: readonly ServiceReport[]): 0 | 1 {
  return reports.every((r) => r.state === 'up' || r.state === 'foreign') ? 0 : 1;
}

export const stackCommand: Command = {
  name: 'stack',
  usage: 'stack up|down|status',
  summary: 'local single-node Kafka + schema registry',
  async run(argv: string[]): Promise<number> {
    const args = parseCommandArgs('stack', argv, { timeout: { type: 'string' }, purge: { type: 'boolean' } }, true);
    if (args.values.help === true) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const [sub, ...extra] = args.positionals;
    if (sub === undefined) throw new UsageError(`stack: expected one of ${SUBCOMMANDS.join('|')}`);
    if (!(SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(`stack: unknown subcommand ${JSON.stringify(sub)}; expected one of ${SUBCOMMANDS.join('|')}`);
    if (extra.length > 0) throw new UsageError(`stack ${sub}: unexpected argument ${JSON.stringify(extra[0])}`);
    const subcommand = sub as Subcommand;
    const timeout = stringOption(args, 'timeout');
    if (timeout !== undefined && subcommand !== 'up') throw new UsageError(`stack ${subcommand}: --timeout applies to stack up only`);
    if (args.values.purge === true && subcommand !== 'down') throw new UsageError(`stack ${subcommand}: --purge applies to stack down only`);
    let timeoutMs: number | undefined;
    if (timeout !== undefined) {
      if (!/^\d+$/.test(timeout) || Number(timeout) < 1) throw new UsageError(`stack up: --timeout expects a whole number of seconds >= 1, got ${JSON.stringify(timeout)}`);
      timeoutMs = Number(timeout) * 1000;
    }

    const config = loadConfig(process.env, args.configFlags);
    const log = createLogger({ bindings: { cmd: `stack ${subcommand}` } });
    if (config.brokers !== undefined && subcommand !== 'fetch') {
      process.stderr.write('note: KAFKA_BROKERS is set, so other commands use it rather than this local stack\n');
    }
    const print = (reports: ServiceReport[]) => process.stdout.write(reports.map(formatReport).join('\n') + '\n');
    // Which registry release and Java: decided once here and handed to whatever runs below.
    const registry = registryPlan(config);
    const notice = fallbackNotice(registry);
    switch (subcommand) {
      case 'up':
        if (notice !== undefined) process.stderr.write(notice + '\n');
        // A person asked for it: from now on test runs leave it running (see acquireStackLease).
        print(await stackUp(config, log, { adopt: true, registry, ...(timeoutMs === undefined ? {} : { timeoutMs }) }));
        return 0;
      case 'down':
        print(await stackDown(config, log, { purge: args.values.purge === true }));
        if (args.values.purge === true) process.stdout.write(`purged ${layoutOf(config).dataDir}\n`);
        return 0;
      case 'status': {
        const reports = await stackStatus(config, registry);
        print(reports);
        return statusExitCode(reports);
      }
      case 'fetch': {
        if (notice !== undefined) process.stderr.write(notice + '\n');
        const started = Date.now();
        const artifacts = await stackFetch(config, log, registry);
        process.stdout.write(
          `artifacts ready under ${layoutOf(config).root}/artifacts (kafka ${STACK_VERSIONS.kafka}, apicurio ${artifacts.registryVersion}; ${seconds(Date.now() - started)})\n`,
        );
        return 0;
      }
    }
  },
};
