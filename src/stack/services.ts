/**
 * The two JVM services of the local stack and how each is started, probed and stopped. Each runs detached
 * in its own process group (so the CLI that started it can exit, and a stop reaches every thread and
 * child of the JVM), with stdout/stderr in <cacheDir>/logs/<service>.log and its pid in <cacheDir>/run.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config/config';
import { KlinestreamError } from '../errors';
import type { Logger } from '../observability/log';
import type { Artifacts } from './fetch';
import { javaOfProcess } from './java';
import { describeExit, failureMessage, fileSize, readLogFrom } from './failure';
import { chooseClusterId, parseProperties, renderServerProperties, storageFormatArgs } from './kafka-properties';
import { kafkaAddress, layoutOf, registryUrl, stackScript, STACK_VERSIONS, type ServiceName, type StackLayout } from './layout';
import { probeKafka, probeRegistry } from './probes';
import { describeRegistryRuntime, REGISTRY_VERSION_ARG, runningRegistryVersion, type RegistryPlan } from './registry';
import {
  findProcesses, isAlive, processCommandLine, removeFile, signalGroup, signalProcess, sleep, waitForExit, writePidFile,
} from './proc';

export interface Service {
  name: ServiceName;
  /** How `stack status` names it. */
  label: string;
  /** What clients connect to. */
  address: string;
  ports: number[];
  logFile: string;
  pidFile: string;
  /** Command-line arguments that mark a JVM as this service of this cache dir (finds it without a pid file). */
  markers: string[];
  probe(timeoutMs?: number): Promise<{ ok: boolean; error?: string }>;
  /** Prepares on-disk state and returns the java to run and its arguments. */
  prepare(artifacts: Artifacts, log: Logger): Promise<{ command: string; args: string[]; cwd: string }>;
  /** What a running JVM of this service runs, for status lines (`apicurio 3.3.3 on java 25`). */
  describe?(pid: number): string;
  /** What `up` would start, in the words of `describe` (registry only). */
  wanted?: string;
  /**
   * Why a running, answering JVM is not the one this command would start (then `up` replaces it), as the
   * description of what runs; undefined when it is.
   */
  mismatch?(pid: number): string | undefined;
  /** How long a clean shutdown may take before SIGKILL. */
  stopTimeoutMs: number;
}

function markers(layout: StackLayout, name: ServiceName): string[] {
  return [`-Dklinestream.stack.home=${layout.root}`, `-Dklinestream.stack.service=${name}`];
}

export function stackServices(config: Config, plan: RegistryPlan): Service[] {
  const layout = layoutOf(config);
  const kafka: Service = {
    name: 'kafka',
    label: 'kafka',
    address: kafkaAddress(config),
    ports: [config.stack.kafkaPort, config.stack.controllerPort],
    logFile: layout.logFile('kafka'),
    pidFile: layout.pidFile('kafka'),
    markers: markers(layout, 'kafka'),
    probe: (timeoutMs) => probeKafka(kafkaAddress(config), timeoutMs),
    stopTimeoutMs: 30_000,
    async prepare(artifacts, log) {
      fs.mkdirSync(layout.configDir, { recursive: true });
      fs.writeFileSync(layout.serverProperties, renderServerProperties({
        kafkaPort: config.stack.kafkaPort, controllerPort: config.stack.controllerPort, dataDir: layout.kafkaDataDir,
      }));
      const classpath = path.join(artifacts.kafkaLibs, '*');
      if (!fs.existsSync(path.join(layout.kafkaDataDir, 'meta.properties'))) {
        await formatStorage(layout, classpath, log);
      }
      return {
        // Kafka 3.9.1 is tested on Java 17: it stays on the default java whatever the registry runs on.
        command: 'java',
        cwd: layout.root,
        args: [
          // Without a cap the JVM takes a quarter of RAM; 1 GiB is plenty for a dev broker.
          '-Xms256m', '-Xmx1g', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:+ExitOnOutOfMemoryError',
          '-Djava.awt.headless=true',
          `-Dlog4j.configuration=file:${stackScript('log4j.properties')}`,
          `-Dkafka.logs.dir=${layout.logsDir}`,
          ...markers(layout, 'kafka'),
          '-cp', classpath, 'kafka.Kafka', layout.serverProperties,
        ],
      };
    },
  };
  const registry: Service = {
    name: 'registry',
    label: 'schema-registry',
    address: registryUrl(config),
    ports: [config.stack.registryPort, config.stack.registryManagementPort],
    logFile: layout.logFile('registry'),
    pidFile: layout.pidFile('registry'),
    markers: markers(layout, 'registry'),
    probe: (timeoutMs) => probeRegistry(registryUrl(config), timeoutMs),
    stopTimeoutMs: 20_000,
    wanted: describeRegistryRuntime(plan.version, plan.javaMajor),
    describe: (pid) => describeRegistryRuntime(runningRegistryVersion(processCommandLine(pid) ?? []), javaOfProcess(pid)?.major),
    mismatch(pid) {
      const version = runningRegistryVersion(processCommandLine(pid) ?? []);
      return version === plan.version ? undefined : describeRegistryRuntime(version, javaOfProcess(pid)?.major);
    },
    async prepare(artifacts, log) {
      if (artifacts.registryVersion !== plan.version) {
        throw new KlinestreamError('STACK_START_FAILED', `internal: fetched Apicurio ${artifacts.registryVersion} but the plan is ${plan.version}`);
      }
      const dataDir = layout.registryDataDir(plan.version);
      adoptLegacyRegistryData(layout, plan.version, log);
      fs.mkdirSync(dataDir, { recursive: true });
      return {
        command: plan.javaBin,
        cwd: path.dirname(artifacts.registryJar),
        args: [
          '-Xms64m', '-Xmx512m', '-XX:+ExitOnOutOfMemoryError',
          ...markers(layout, 'registry'),
          // Lets `up` see which release a running registry is, and replace it when another one is chosen.
          `${REGISTRY_VERSION_ARG}${plan.version}`,
          '-Dquarkus.http.host=127.0.0.1',
          `-Dquarkus.http.port=${config.stack.registryPort}`,
          // Since 3.2 a management listener opens on 9000 unless moved; keep it on loopback and on our port.
          '-Dquarkus.management.host=127.0.0.1',
          `-Dquarkus.management.port=${config.stack.registryManagementPort}`,
          // Answer like Confluent: a subject without its own rule is BACKWARD (the client library refuses
          // to register against NONE), and equal schemas written differently get the same id. Same names
          // in 3.0.9 and 3.3.3 (checked against both running registries, see docs/local-stack.md).
          '-Dapicurio.rules.global.compatibility=BACKWARD',
          '-Dapicurio.ccompat.use-canonical-hash=true',
          // Kept on disk next to Kafka's data: the broker keeps records across restarts, and their schema
          // ids must keep meaning the same schemas. An in-memory registry would restart ids at 1 and a
          // retained record would decode with whatever schema got its id next. FILE_LOCK=FS is an OS lock,
          // released when the JVM dies, so a kill -9 leaves no lock behind.
          `-Dapicurio.datasource.url=jdbc:h2:file:${path.join(dataDir, 'registry')};FILE_LOCK=FS`,
          // One line per HTTP request would bury startup problems in registry.log.
          '-Dquarkus.http.access-log.enabled=false',
          '-jar', artifacts.registryJar,
        ],
      };
    },
  };
  return [kafka, registry];
}

/**
 * Before databases were kept per registry version, 3.0.9 (the only release the stack ran then) kept its
 * database in data/registry. Moving it to data/registry-3.0.9 keeps the ids of a fallback registry stable
 * across the upgrade of klinestream. Never handed to another release: 3.3.3 would upgrade it in place.
 */
function adoptLegacyRegistryData(layout: StackLayout, version: string, log: Logger): void {
  if (version !== STACK_VERSIONS.apicurioOnJava17) return;
  const target = layout.registryDataDir(version);
  if (!fs.existsSync(layout.legacyRegistryDataDir) || fs.existsSync(target)) return;
  fs.renameSync(layout.legacyRegistryDataDir, target);
  log.info('moved the Apicurio 3.0.9 database to its per-version directory', { from: layout.legacyRegistryDataDir, to: target });
}

export function isOurProcess(service: Service, pid: number): boolean {
  const argv = processCommandLine(pid);
  return argv !== undefined && service.markers.every((m) => argv.includes(m));
}

/**
 * Formats fresh Kafka storage (`kafka.tools.StorageTool format`), with the id of the cluster-id file when
 * it is usable and a new one otherwise. The file is written only once formatting succeeded, with the id
 * the storage holds; an id that failed to format is dropped, so the next `up` draws a fresh one instead
 * of failing the same way forever.
 */
async function formatStorage(layout: StackLayout, classpath: string, log: Logger): Promise<void> {
  fs.mkdirSync(layout.kafkaDataDir, { recursive: true });
  let fileText: string | undefined;
  try {
    fileText = fs.readFileSync(layout.clusterIdFile, 'utf8');
  } catch {
    fileText = undefined;
  }
  const choice = chooseClusterId(fileText);
  if (choice.rejected !== undefined) {
    log.warn('replacing the unusable cluster id of the cluster-id file (the storage was never formatted with it)', {
      file: layout.clusterIdFile, old: choice.rejected.id, problem: choice.rejected.problem, clusterId: choice.id,
    });
  }
  const clusterId = choice.id;
  log.info('formatting Kafka storage', { dir: layout.kafkaDataDir, clusterId });
  const logFile = layout.logFile('kafka');
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const toolArgs = storageFormatArgs(clusterId, layout.serverProperties);
  fs.appendFileSync(logFile, `# ${new Date().toISOString()} kafka.tools.StorageTool ${toolArgs.join(' ')}\n`);
  const outputStart = fileSize(logFile);
  const fd = fs.openSync(logFile, 'a');
  const ended = await new Promise<string>((resolve) => {
    const child = spawn('java', [
      '-Xmx256m', `-Dlog4j.configuration=file:${stackScript('log4j.properties')}`,
      '-cp', classpath, 'kafka.tools.StorageTool', ...toolArgs,
    ], { stdio: ['ignore', fd, fd], env: process.env });
    child.on('error', (e: NodeJS.ErrnoException) => {
      resolve(e.code === 'ENOENT' ? `could not run java: ${e.message} (java is not on PATH; the local stack needs Java 17+)` : `could not run java: ${e.message}`);
    });
    child.on('exit', (c, s) => resolve(c === 0 ? '' : describeExit(c, s)));
  });
  fs.closeSync(fd);
  const meta = path.join(layout.kafkaDataDir, 'meta.properties');
  if (ended !== '' || !fs.existsSync(meta)) {
    // Never formatted with: whatever made it fail, the next attempt starts from a fresh id.
    if (choice.fromFile) removeFile(layout.clusterIdFile);
    const why = ended !== '' ? ended : `exit code 0 but no ${meta}`;
    throw new KlinestreamError(
      'STACK_START_FAILED',
      failureMessage(`formatting Kafka storage (cluster id ${clusterId}) failed (${why})`, readLogFrom(logFile, outputStart), logFile),
      { log: logFile, clusterId },
    );
  }
  // Remember the id the storage holds, so a later format (after the data dir was deleted) reuses it.
  const formattedId = parseProperties(fs.readFileSync(meta, 'utf8')).get('cluster.id') ?? clusterId;
  fs.writeFileSync(layout.clusterIdFile, formattedId + '\n');
}

/** Keeps one previous log (<name>.log.1) so a failed restart does not erase why the last run died. */
function rotateLog(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (fs.existsSync(file)) fs.renameSync(file, `${file}.1`);
}

export interface Started {
  pid: number;
  elapsedMs: number;
}

/**
 * Starts the service and polls until it answers. On any failure the JVM is stopped again: a half-started
 * service left behind would hold the ports and confuse the next `stack up`.
 */
export async function startService(service: Service, artifacts: Artifacts, log: Logger, timeoutMs: number): Promise<Started> {
  const started = Date.now();
  rotateLog(service.logFile);
  const { command, args, cwd } = await service.prepare(artifacts, log);
  const fd = fs.openSync(service.logFile, 'a');
  let pid: number;
  // How the JVM ended, should it end during startup (the exit event fires while the loop below polls).
  let ended: string | undefined;
  try {
    pid = await new Promise<number>((resolve, reject) => {
      const child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', fd, fd] });
      child.once('exit', (code, signal) => {
        ended = describeExit(code, signal);
      });
      child.once('error', (e: NodeJS.ErrnoException) => {
        const hint = e.code !== 'ENOENT' ? '' : command === 'java' ? ' (java is not on PATH; the local stack needs Java 17+)' : ` (${command} does not exist)`;
        reject(new KlinestreamError('STACK_START_FAILED', `could not start ${service.label}${hint}: ${e.message}`, {}, { cause: e }));
      });
      child.once('spawn', () => {
        // Our event loop must not wait for the JVM: `stack up` returns while the stack keeps running.
        child.unref();
        resolve(child.pid!);
      });
    });
  } finally {
    fs.closeSync(fd);
  }
  writePidFile(service.pidFile, pid);
  log.info('starting', { service: service.label, pid, java: command, log: service.logFile });

  const deadline = started + timeoutMs;
  let lastError: string | undefined;
  for (;;) {
    if (ended !== undefined || !isAlive(pid)) {
      // /proc may show it gone (a zombie) a moment before Node reaps it and reports how it ended.
      for (let i = 0; i < 20 && ended === undefined; i++) await sleep(50);
      removeFile(service.pidFile);
      throw new KlinestreamError(
        'STACK_START_FAILED',
        failureMessage(`${service.label} exited during startup (${ended ?? 'exit status unknown'})`, readLogFrom(service.logFile), service.logFile),
        { log: service.logFile },
      );
    }
    const answer = await service.probe(2000);
    if (answer.ok) return { pid, elapsedMs: Date.now() - started };
    lastError = answer.error;
    if (Date.now() >= deadline) break;
    await sleep(250);
  }
  // What it was doing when time ran out, before the shutdown adds its own lines.
  const output = readLogFrom(service.logFile);
  await stopPids(service, [pid], log);
  removeFile(service.pidFile);
  throw new KlinestreamError(
    'STACK_START_FAILED',
    failureMessage(
      `${service.label} did not answer on ${service.address} within ${Math.round(timeoutMs / 1000)} s${lastError ? ` (last error: ${lastError})` : ''}; stopped it again`,
      output, service.logFile,
    ),
    { log: service.logFile },
  );
}

/** Every live JVM of this service: the pid file's and any orphan found by its markers. */
export function servicePids(service: Service, pidFromFile: number | undefined): number[] {
  const pids = new Set(findProcesses(service.markers));
  if (pidFromFile !== undefined && isAlive(pidFromFile) && isOurProcess(service, pidFromFile)) pids.add(pidFromFile);
  return [...pids];
}

/**
 * SIGTERM to each process group (the JVM is its group leader), poll for exit, SIGKILL what is left after
 * the service's timeout. Throws if something survives SIGKILL.
 */
export async function stopPids(service: Service, pids: number[], log: Logger): Promise<void> {
  const send = (pid: number, signal: NodeJS.Signals) => {
    // A JVM found by its markers but started some other way may not lead its own group.
    if (!signalGroup(pid, signal)) signalProcess(pid, signal);
  };
  for (const pid of pids) {
    send(pid, 'SIGTERM');
    // A stopped JVM (Ctrl-Z, SIGSTOP) queues SIGTERM until continued; continue it so it can shut down.
    send(pid, 'SIGCONT');
  }
  const exited = await Promise.all(pids.map((pid) => waitForExit(pid, service.stopTimeoutMs)));
  const stubborn = pids.filter((_, i) => !exited[i]);
  for (const pid of stubborn) {
    log.warn('did not stop after SIGTERM; sending SIGKILL', { service: service.label, pid, waitedMs: service.stopTimeoutMs });
    send(pid, 'SIGKILL');
  }
  const killed = await Promise.all(stubborn.map((pid) => waitForExit(pid, 10_000)));
  const survivors = stubborn.filter((_, i) => !killed[i]);
  if (survivors.length > 0) {
    throw new KlinestreamError('STACK_STOP_FAILED', `${service.label} (pid ${survivors.join(', ')}) survived SIGKILL`, { pids: survivors });
  }
}

