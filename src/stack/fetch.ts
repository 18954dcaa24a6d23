/**
 * Fetches the stack's JVM artifacts into the cache dir, once: Kafka's runtime classpath (Maven dependency
 * plugin) and the Apicurio Registry release the registry plan chose (app archive downloaded, sha1-checked,
 * unpacked; one directory per release, so switching between 3.3.3 and 3.0.9 never refetches). Each component
 * gets a marker file written only after it is complete, so an interrupted fetch is redone from scratch.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KlinestreamError } from '../errors';
import type { Logger } from '../observability/log';
import { STACK_VERSIONS, stackScript, type StackLayout } from './layout';
import { withLock } from './lock';

export interface Artifacts {
  kafkaLibs: string;
  /** The Apicurio release that registryJar belongs to. */
  registryVersion: string;
  /** The jar that starts the registry (its name and place differ between Apicurio releases). */
  registryJar: string;
}

const MARKER = '.complete';
/** A cold fetch moves ~160 MB; a second fetcher waits this long for the first before giving up. */
const FETCH_LOCK_TIMEOUT_MS = 30 * 60_000;

function registryArchiveName(version: string): string {
  return `apicurio-registry-app-${version}-all.tar.gz`;
}

function kafkaComplete(layout: StackLayout): boolean {
  return fs.existsSync(path.join(layout.kafkaHome, MARKER)) &&
    fs.existsSync(path.join(layout.kafkaLibs, `kafka_2.13-${STACK_VERSIONS.kafka}.jar`));
}

/**
 * From 3.3.0 the archive has quarkus-run.jar at its root, 3.1.6 to 3.2.x under quarkus-app/, older
 * releases (3.0.x) a legacy *-runner.jar next to lib/. Looking for all three keeps a version bump a
 * one-line change.
 */
export function findRegistryJar(dir: string): string | undefined {
  for (const candidate of ['quarkus-run.jar', path.join('quarkus-app', 'quarkus-run.jar')]) {
    const p = path.join(dir, candidate);
    if (fs.existsSync(p)) return p;
  }
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return undefined;
  }
  const runner = entries.find((e) => e.endsWith('-runner.jar'));
  return runner === undefined ? undefined : path.join(dir, runner);
}

function registryDist(layout: StackLayout, version: string): string {
  return path.join(layout.registryHome(version), 'dist');
}

function registryComplete(layout: StackLayout, version: string): string | undefined {
  if (!fs.existsSync(path.join(layout.registryHome(version), MARKER))) return undefined;
  return findRegistryJar(registryDist(layout, version));
}

/** The artifacts (Kafka + the given Apicurio release) if both are already fetched, without taking any lock. */
export function fetchedArtifacts(layout: StackLayout, registryVersion: string): Artifacts | undefined {
  const registryJar = registryComplete(layout, registryVersion);
  if (!kafkaComplete(layout) || registryJar === undefined) return undefined;
  return { kafkaLibs: layout.kafkaLibs, registryVersion, registryJar };
}

/** Kafka plus the given Apicurio release, fetched if missing (only what is missing). */
export async function ensureArtifacts(layout: StackLayout, registryVersion: string, log: Logger): Promise<Artifacts> {
  const ready = fetchedArtifacts(layout, registryVersion);
  if (ready) return ready;
  return withLock(
    layout.fetchLock,
    { timeoutMs: FETCH_LOCK_TIMEOUT_MS, onWait: (pid) => log.info('another process is fetching the stack artifacts; waiting', { pid }) },
    async () => {
      // Re-check under the lock: the process we waited for may have fetched everything.
      const again = fetchedArtifacts(layout, registryVersion);
      if (again) return again;
      await fetchMissing(layout, registryVersion, log);
      const done = fetchedArtifacts(layout, registryVersion);
      if (!done) {
        throw new KlinestreamError('STACK_FETCH_FAILED', `fetch finished but the artifacts are incomplete; see ${layout.fetchLog}`, { log: layout.fetchLog });
      }
      return done;
    },
  );
}

async function fetchMissing(layout: StackLayout, registryVersion: string, log: Logger): Promise<void> {
  const started = Date.now();
  const needKafka = !kafkaComplete(layout);
  const needRegistry = registryComplete(layout, registryVersion) === undefined;
  const registryHome = layout.registryHome(registryVersion);
  const dist = registryDist(layout, registryVersion);
  fs.mkdirSync(layout.logsDir, { recursive: true });
  fs.writeFileSync(layout.fetchLog, `# klinestream stack fetch ${new Date().toISOString()}\n`);
  const archiveDir = path.join(registryHome, 'archive');
  const goals: string[] = [];
  // Start each incomplete component from an empty directory: whatever a killed fetch left is suspect.
  if (needKafka) {
    fs.rmSync(layout.kafkaHome, { recursive: true, force: true });
    fs.mkdirSync(layout.kafkaHome, { recursive: true });
    goals.push('dependency:copy-dependencies@kafka-libs');
  }
  if (needRegistry) {
    fs.rmSync(registryHome, { recursive: true, force: true });
    fs.mkdirSync(archiveDir, { recursive: true });
    goals.push('wagon:download-single@registry-archive', 'wagon:download-single@registry-sha1');
  }
  log.info('fetching local stack artifacts with Maven (first run only)', {
    kafka: needKafka ? STACK_VERSIONS.kafka : undefined,
    apicurio: needRegistry ? registryVersion : undefined,
    log: layout.fetchLog,
  });
  await runLogged('mvn', [
    '-B', '-q', '-f', stackScript('pom.xml'),
    `-Dkafka.version=${STACK_VERSIONS.kafka}`,
    `-Dapicurio.version=${registryVersion}`,
    `-Dstack.kafkaLibs=${layout.kafkaLibs}`,
    `-Dstack.registryDir=${archiveDir}`,
    ...goals,
  ], layout.fetchLog);

  if (needKafka) writeMarker(layout.kafkaHome, { kafka: STACK_VERSIONS.kafka });
  if (needRegistry) {
    const archive = path.join(archiveDir, registryArchiveName(registryVersion));
    await verifySha1(archive, `${archive}.sha1`, layout.fetchLog);
    fs.mkdirSync(dist, { recursive: true });
    await runLogged('tar', ['-xzf', archive, '-C', dist], layout.fetchLog);
    if (findRegistryJar(dist) === undefined) {
      throw new KlinestreamError('STACK_FETCH_FAILED', `no registry jar (quarkus-run.jar or *-runner.jar) in ${dist}; see ${layout.fetchLog}`);
    }
    // The unpacked tree is all we run; the archive would only double the disk use.
    fs.rmSync(archiveDir, { recursive: true, force: true });
    writeMarker(registryHome, { apicurio: registryVersion });
  }
  log.info('fetched local stack artifacts', { elapsedMs: Date.now() - started });
}

function writeMarker(dir: string, versions: Record<string, string>): void {
  fs.writeFileSync(path.join(dir, MARKER), JSON.stringify({ versions, fetchedAt: new Date().toISOString() }) + '\n');
}

async function verifySha1(file: string, sha1File: string, logFile: string): Promise<void> {
  let expected: string | undefined;
  try {
    expected = /^[0-9a-fA-F]{40}/.exec(fs.readFileSync(sha1File, 'utf8').trim())?.[0]?.toLowerCase();
  } catch {
    expected = undefined;
  }
  if (expected === undefined) {
    throw new KlinestreamError('STACK_FETCH_FAILED', `missing or unreadable checksum ${sha1File}; see ${logFile}`);
  }
  const hash = createHash('sha1');
  await new Promise<void>((resolve, reject) => {
    fs.createReadStream(file).on('data', (chunk) => hash.update(chunk)).on('end', resolve).on('error', reject);
  });
  const actual = hash.digest('hex');
  if (actual !== expected) {
    fs.appendFileSync(logFile, `sha1 mismatch for ${file}: expected ${expected}, got ${actual}\n`);
    throw new KlinestreamError('STACK_FETCH_FAILED', `checksum mismatch for ${path.basename(file)} (expected ${expected}, got ${actual}); see ${logFile}`);
  }
}

/** Runs a command with stdout and stderr appended to `logFile`; a failure names the log and its first error line. */
function runLogged(command: string, args: string[], logFile: string): Promise<void> {
  fs.appendFileSync(logFile, `$ ${command} ${args.join(' ')}\n`);
  const fd = fs.openSync(logFile, 'a');
  return new Promise<void>((resolve, reject) => {
    // env passed explicitly: the same as the default in production, and the sandboxed env under jest.
    const child = spawn(command, args, { env: process.env, stdio: ['ignore', fd, fd] });
    child.on('error', (e: NodeJS.ErrnoException) => {
      fs.closeSync(fd);
      const hint = e.code === 'ENOENT' ? ` (${command} is not on PATH; the local stack needs Maven 3.8+ and Java 17+)` : '';
      reject(new KlinestreamError('STACK_FETCH_FAILED', `could not run ${command}${hint}: ${e.message}; see ${logFile}`, { log: logFile }, { cause: e }));
    });
    child.on('exit', (code, signal) => {
      fs.closeSync(fd);
      if (code === 0) return resolve();
      const firstError = firstErrorLine(logFile);
      reject(new KlinestreamError(
        'STACK_FETCH_FAILED',
        `fetching the local stack failed: ${command} exited with ${code ?? signal}${firstError ? ` (${firstError})` : ''}; full output in ${logFile}`,
        { log: logFile, exitCode: code, signal },
      ));
    });
  });
}

function firstErrorLine(logFile: string): string | undefined {
  try {
    const line = fs.readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes('[ERROR]') || /^tar: /.test(l));
    // Maven colours its output even with -B on some terminals; strip the escapes for the message.
    // eslint-disable-next-line no-control-regex
    return line?.replace(/\x1b\[[0-9;]*m/g, '').trim().slice(0, 300);
  } catch {
    return undefined;
  }
}
