/**
 * The embedded local stack: `up`, `down`, `status`, and `resolveConnection` for every other command.
 * All state changes happen under one lock file per cache dir, so concurrent callers (two jest runs, two
 * clones, a developer's terminal) share one broker and one registry instead of racing to start two.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config/config';
import { ConfigError, KlinestreamError } from '../errors';
import type { Logger } from '../observability/log';
import { ensureArtifacts, type Artifacts } from './fetch';
import { kafkaAddress, layoutOf, registryUrl, type ServiceName, type StackLayout } from './layout';
import { isStaleOwner, withLock } from './lock';
import { portIsFree } from './probes';
import { inspectPidFile, processStartTime, removeFile, writePidFile } from './proc';
import { fallbackNotice, registryPlan, type RegistryPlan } from './registry';
import { isOurProcess, servicePids, startService, stackServices, stopPids, type Service } from './services';

import type { Connection } from '../config/connection';

/** Defined in src/config/connection.ts (below the layers that use it); re-exported for the CLI. */
export type { Connection } from '../config/connection';

export type ServiceState = 'up' | 'down' | 'not-answering' | 'foreign';
export type ServiceAction = 'started' | 'restarted' | 'already-running' | 'stopped' | 'not-running';

export interface ServiceReport {
  service: ServiceName;
  label: string;
  address: string;
  state: ServiceState;
  pid?: number;
  action?: ServiceAction;
  elapsedMs?: number;
  logFile: string;
  error?: string;
  /** What the JVM runs, e.g. `apicurio 3.3.3 on java 25` (registry only). */
  detail?: string;
  /** `up` replaced a running JVM that ran this instead (another registry release). */
  replaced?: string;
  /** Status only: the running JVM is not what `up` would start now, which is this. */
  wanted?: string;
}

export interface UpOptions {
  /** Per-service startup timeout. */
  timeoutMs?: number;
  /** A person asked for the stack: it is theirs now, and test runs that started it must not stop it. */
  adopt?: boolean;
  /** The registry release and Java, decided once by the caller; `registryPlan(config)` when not given. */
  registry?: RegistryPlan;
}

const DEFAULT_START_TIMEOUT_MS = 180_000;
/** Waiting for another holder of the stack lock: it may be doing a cold fetch plus a start. */
const STACK_LOCK_TIMEOUT_MS = 35 * 60_000;

function lockStack<T>(layout: StackLayout, log: Logger, fn: () => Promise<T>): Promise<T> {
  return withLock(
    layout.stackLock,
    { timeoutMs: STACK_LOCK_TIMEOUT_MS, onWait: (pid) => log.info('another klinestream process is changing the local stack; waiting', { pid, lock: layout.stackLock }) },
    fn,
  );
}

async function serviceStatus(service: Service): Promise<ServiceReport> {
  const pidFile = inspectPidFile(service.pidFile, (pid) => isOurProcess(service, pid));
  const pids = servicePids(service, pidFile.kind === 'alive' ? pidFile.pid : undefined);
  const answer = await service.probe(2000);
  const base = { service: service.name, label: service.label, address: service.address, logFile: service.logFile };
  const pid = pidFile.kind === 'alive' ? pidFile.pid : pids[0];
  if (answer.ok && pid === undefined) return { ...base, state: 'foreign' };
  const detail = pid === undefined ? undefined : service.describe?.(pid);
  const described = detail === undefined ? {} : { detail };
  if (answer.ok && pid !== undefined) {
    const stale = service.mismatch?.(pid) !== undefined && service.wanted !== undefined;
    return { ...base, state: 'up', pid, ...described, ...(stale ? { wanted: service.wanted } : {}) };
  }
  if (pid !== undefined) return { ...base, state: 'not-answering', pid, ...described, ...(answer.error ? { error: answer.error } : {}) };
  return { ...base, state: 'down' };
}

/** Probes both services; never starts or stops anything. */
export async function stackStatus(config: Config, plan: RegistryPlan = registryPlan(config)): Promise<ServiceReport[]> {
  return Promise.all(stackServices(config, plan).map(serviceStatus));
}

interface Ensured {
  report: ServiceReport;
  /**
   * We started it in this call where none was usable (down, dead or hung). Not set when a healthy JVM of
   * another registry release was replaced: whoever owned that one owns the replacement, so a test run that
   * switched a developer's registry does not stop it afterwards.
   */
  started: boolean;
}

async function ensureService(config: Config, service: Service, start: () => Promise<{ pid: number; elapsedMs: number }>, log: Logger): Promise<Ensured> {
  const base = { service: service.name, label: service.label, address: service.address, logFile: service.logFile };
  const pidFile = inspectPidFile(service.pidFile, (pid) => isOurProcess(service, pid));
  if (pidFile.kind === 'stale') {
    // Left by a killed run (or a reboot): the process is gone, so start afresh.
    log.warn('removing stale pid file: its process is gone', { service: service.label, pid: pidFile.pid, file: service.pidFile });
    removeFile(service.pidFile);
  }
  const pids = servicePids(service, pidFile.kind === 'alive' ? pidFile.pid : undefined);
  let restarted = false;
  let replaced: string | undefined;
  if (pids.length > 0) {
    const answer = await service.probe(3000);
    const pid = pids[0]!;
    replaced = answer.ok && pids.length === 1 ? service.mismatch?.(pid) : undefined;
    if (answer.ok && pids.length === 1 && replaced === undefined) {
      // Also heals a lost pid file: the JVM was found by its command-line markers.
      if (pidFile.kind !== 'alive' || pidFile.pid !== pid) writePidFile(service.pidFile, pid);
      const detail = service.describe?.(pid);
      return { report: { ...base, state: 'up', pid, action: 'already-running', ...(detail === undefined ? {} : { detail }) }, started: false };
    }
    if (replaced !== undefined) {
      // Another release than the one chosen now (e.g. 3.0.9 from before a Java 21 was installed): keeping
      // it silently would hide which registry the commands talk to.
      log.warn('the running registry is not the release chosen now; replacing it', { service: service.label, pid, running: replaced, chosen: service.wanted });
    } else {
      log.warn(answer.ok ? 'more than one copy is running; restarting' : 'running but not answering; restarting', {
        service: service.label, pids, error: answer.error, log: service.logFile,
      });
    }
    await stopPids(service, pids, log);
    removeFile(service.pidFile);
    restarted = true;
  }
  for (const port of service.ports) {
    if (!(await portIsFree(port))) {
      throw new KlinestreamError(
        'STACK_START_FAILED',
        `cannot start ${service.label}: port 127.0.0.1:${port} is in use by another process (not a klinestream stack of ${config.cacheDir}). ` +
          'Stop that process, choose other ports (KLINESTREAM_STACK_*_PORT), or point KAFKA_BROKERS / SCHEMA_REGISTRY_URL at existing services',
        { port, service: service.name },
      );
    }
  }
  const { pid, elapsedMs } = await start();
  const detail = service.describe?.(pid);
  return {
    report: {
      ...base, state: 'up', pid, action: restarted ? 'restarted' : 'started', elapsedMs,
      ...(detail === undefined ? {} : { detail }), ...(replaced === undefined ? {} : { replaced }),
    },
    started: replaced === undefined,
  };
}

/** The body of `up`, for callers that already hold the stack lock. */
async function upLocked(config: Config, log: Logger, options: UpOptions): Promise<{ reports: ServiceReport[]; started: ServiceName[] }> {
  const layout = layoutOf(config);
  const plan = options.registry ?? registryPlan(config);
  const artifacts = await ensureArtifacts(layout, plan.version, log);
  const timeoutMs = options.timeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const services = stackServices(config, plan);
  // Both JVMs start at once: they do not depend on each other, and their startups overlap well even on 2 cores.
  const results = await Promise.allSettled(
    services.map((s) => ensureService(config, s, () => startService(s, artifacts, log, timeoutMs), log)),
  );
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    // Do not leave half a stack behind: stop what this call started, keep what was already running.
    for (let i = 0; i < services.length; i++) {
      const r = results[i]!;
      // A replaced registry is left running too: the one it replaced is gone either way.
      if (r.status === 'fulfilled' && r.value.started) {
        await stopPids(services[i]!, [r.value.report.pid!], log).catch(() => undefined);
        removeFile(services[i]!.pidFile);
      }
    }
    throw failure.reason;
  }
  const ensured = results.map((r) => (r as PromiseFulfilledResult<Ensured>).value);
  return { reports: ensured.map((e) => e.report), started: services.filter((_, i) => ensured[i]!.started).map((s) => s.name) };
}

/** Starts whatever part of the stack is not up (fetching artifacts first when missing). */
export async function stackUp(config: Config, log: Logger, options: UpOptions = {}): Promise<ServiceReport[]> {
  const layout = layoutOf(config);
  return lockStack(layout, log, async () => {
    const { reports } = await upLocked(config, log, options);
    if (options.adopt) removeFile(layout.testOwnedMarker);
    return reports;
  });
}

async function stopServices(config: Config, names: readonly ServiceName[], log: Logger): Promise<ServiceReport[]> {
  // Stopping finds JVMs by their markers, which do not depend on the registry release: any plan will do.
  const services = stackServices(config, registryPlan(config)).filter((s) => names.includes(s.name));
  return Promise.all(services.map(async (service): Promise<ServiceReport> => {
    const base = { service: service.name, label: service.label, address: service.address, logFile: service.logFile };
    const pidFile = inspectPidFile(service.pidFile, (pid) => isOurProcess(service, pid));
    const pids = servicePids(service, pidFile.kind === 'alive' ? pidFile.pid : undefined);
    if (pids.length === 0) {
      removeFile(service.pidFile);
      return { ...base, state: 'down', action: 'not-running' };
    }
    const started = Date.now();
    await stopPids(service, pids, log);
    removeFile(service.pidFile);
    return { ...base, state: 'down', action: 'stopped', pid: pids[0]!, elapsedMs: Date.now() - started };
  }));
}

/** Stops both services (SIGTERM, then SIGKILL after a timeout); `purge` also deletes their data. */
export async function stackDown(config: Config, log: Logger, options: { purge?: boolean } = {}): Promise<ServiceReport[]> {
  const layout = layoutOf(config);
  return lockStack(layout, log, async () => {
    const reports = await stopServices(config, ['kafka', 'registry'], log);
    removeFile(layout.testOwnedMarker);
    if (options.purge) {
      fs.rmSync(layout.dataDir, { recursive: true, force: true });
      fs.rmSync(layout.configDir, { recursive: true, force: true });
    }
    return reports;
  });
}

/** Downloads the artifacts `up` would run, without starting anything (CI warms its cache with it). */
export async function stackFetch(config: Config, log: Logger, plan: RegistryPlan = registryPlan(config)): Promise<Artifacts> {
  return ensureArtifacts(layoutOf(config), plan.version, log);
}

function embeddedConnection(config: Config): Connection {
  return { brokers: [kafkaAddress(config)], schemaRegistryUrl: registryUrl(config), embedded: true };
}

/**
 * Where to connect: the configured brokers and registry when given (both or neither), otherwise the local
 * stack, started on demand and left running for the next command (`klinestream stack down` stops it).
 */
export async function resolveConnection(config: Config, log: Logger): Promise<Connection> {
  if (config.brokers !== undefined && config.schemaRegistryUrl !== undefined) {
    return { brokers: config.brokers, schemaRegistryUrl: config.schemaRegistryUrl, embedded: false };
  }
  if (config.brokers !== undefined || config.schemaRegistryUrl !== undefined) {
    const [set, unset] = config.brokers !== undefined ? ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL'] : ['SCHEMA_REGISTRY_URL', 'KAFKA_BROKERS'];
    throw new ConfigError(unset, `is not set but ${set} is; set both to use existing services, or neither to use the embedded local stack`);
  }
  const plan = registryPlan(config);
  // Fast path without the lock: the usual case is a stack that is already up (and runs the chosen registry).
  const status = await stackStatus(config, plan);
  if (!status.every((s) => s.state === 'up' && s.wanted === undefined)) {
    const notice = fallbackNotice(plan);
    if (notice !== undefined) log.warn(notice);
    const reports = await stackUp(config, log, { registry: plan });
    for (const r of reports) {
      if (r.action !== 'already-running') log.info('local stack service ready', { service: r.label, address: r.address, pid: r.pid, elapsedMs: r.elapsedMs, runs: r.detail, replaced: r.replaced });
    }
  }
  return embeddedConnection(config);
}

// ---------------------------------------------------------------------------------------------------------
// Leases: shared use of the stack by runs that should clean up after themselves (the integration tests).
// A run that finds the stack down starts it and records so in the test-owned marker; the last lease to go
// stops what the marker lists. A stack someone started by hand (or adopted with `stack up`) has no marker
// and is never stopped by a test run, and two overlapping test runs never pull the stack from each other.

interface LeaseRecord {
  pid: number;
  startTime: string | undefined;
}

function leaseFile(layout: StackLayout, pid: number): string {
  return path.join(layout.leasesDir, `${pid}.json`);
}

function liveLeases(layout: StackLayout): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(layout.leasesDir);
  } catch {
    return [];
  }
  const live: number[] = [];
  for (const name of names) {
    const file = path.join(layout.leasesDir, name);
    let record: LeaseRecord | undefined;
    try {
      const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid?: unknown; startTime?: unknown };
      if (typeof parsed.pid === 'number') record = { pid: parsed.pid, startTime: typeof parsed.startTime === 'string' ? parsed.startTime : undefined };
    } catch {
      record = undefined;
    }
    // A lease whose holder died (a killed jest run) would otherwise keep the stack up forever.
    if (record === undefined || isStaleOwner(record)) fs.rmSync(file, { force: true });
    else live.push(record.pid);
  }
  return live;
}

function readOwnedMarker(layout: StackLayout): ServiceName[] {
  try {
    const parsed = JSON.parse(fs.readFileSync(layout.testOwnedMarker, 'utf8')) as { services?: unknown };
    return Array.isArray(parsed.services) ? parsed.services.filter((s): s is ServiceName => s === 'kafka' || s === 'registry') : [];
  } catch {
    return [];
  }
}

export interface Lease {
  connection: Connection;
  /** The services this call started (empty when the stack was already up). */
  started: ServiceName[];
}

/** Brings the stack up (if needed) and registers this process as a user of it until releaseStackLease. */
export async function acquireStackLease(config: Config, log: Logger, options: UpOptions = {}): Promise<Lease> {
  const layout = layoutOf(config);
  return lockStack(layout, log, async () => {
    const { started } = await upLocked(config, log, options);
    fs.mkdirSync(layout.leasesDir, { recursive: true });
    const record: LeaseRecord = { pid: process.pid, startTime: processStartTime(process.pid) };
    fs.writeFileSync(leaseFile(layout, process.pid), JSON.stringify(record) + '\n');
    if (started.length > 0) {
      const owned = new Set([...readOwnedMarker(layout), ...started]);
      fs.writeFileSync(layout.testOwnedMarker, JSON.stringify({ services: [...owned] }) + '\n');
    }
    return { connection: embeddedConnection(config), started };
  });
}

/**
 * Ends this process's lease. When no live lease is left, stops the services a lease holder started
 * (none if the stack was up already or a person adopted it). Returns what it stopped.
 */
export async function releaseStackLease(config: Config, log: Logger): Promise<ServiceName[]> {
  const layout = layoutOf(config);
  return lockStack(layout, log, async () => {
    fs.rmSync(leaseFile(layout, process.pid), { force: true });
    const others = liveLeases(layout);
    if (others.length > 0) {
      log.info('local stack still in use by other runs; leaving it up', { pids: others });
      return [];
    }
    const owned = readOwnedMarker(layout);
    if (owned.length > 0) await stopServices(config, owned, log);
    removeFile(layout.testOwnedMarker);
    return owned;
  });
}

