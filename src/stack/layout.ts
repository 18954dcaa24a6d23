/**
 * Where the local stack keeps everything: one tree under config.cacheDir, outside git and shared by every
 * clone of the repository on the machine (so two clones reuse one download and one running stack).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config/config';

/**
 * The versions the stack runs. Apicurio 3.3.3 is Java 21 bytecode (class file 65), so it runs on a Java 21+
 * runtime when one is found (src/stack/java.ts); otherwise the registry falls back to 3.0.9, the newest
 * release on the reachable Maven Central that runs on Java 17. Kafka always runs on the default `java`
 * (17 is what 3.9.1 is tested with). See docs/local-stack.md.
 */
export const STACK_VERSIONS = { kafka: '3.9.1', apicurio: '3.3.3', apicurioOnJava17: '3.0.9' } as const;

export type ServiceName = 'kafka' | 'registry';
export const SERVICES: readonly ServiceName[] = ['kafka', 'registry'];

export interface StackLayout {
  root: string;
  kafkaHome: string;
  kafkaLibs: string;
  /** One directory per registry version, each with its own `.complete` marker. */
  registryHome(version: string): string;
  dataDir: string;
  kafkaDataDir: string;
  clusterIdFile: string;
  /**
   * One H2 database per registry version: a newer Apicurio upgrades the schema of a database it opens in
   * place, and the older one then cannot read it, so switching versions must never share a database.
   */
  registryDataDir(version: string): string;
  /** Where the registry's database lived before it was kept per version (always written by 3.0.9). */
  legacyRegistryDataDir: string;
  configDir: string;
  serverProperties: string;
  logsDir: string;
  fetchLog: string;
  runDir: string;
  stackLock: string;
  fetchLock: string;
  leasesDir: string;
  /** Present while the running stack was started by a test run (and may be stopped by the last one). */
  testOwnedMarker: string;
  logFile(service: ServiceName): string;
  pidFile(service: ServiceName): string;
}

export function stackLayout(cacheDir: string): StackLayout {
  const artifacts = path.join(cacheDir, 'artifacts');
  const kafkaHome = path.join(artifacts, `kafka-${STACK_VERSIONS.kafka}`);
  const dataDir = path.join(cacheDir, 'data');
  const logsDir = path.join(cacheDir, 'logs');
  const runDir = path.join(cacheDir, 'run');
  const configDir = path.join(cacheDir, 'config');
  return {
    root: cacheDir,
    kafkaHome,
    kafkaLibs: path.join(kafkaHome, 'libs'),
    registryHome: (version) => path.join(artifacts, `apicurio-registry-${version}`),
    dataDir,
    kafkaDataDir: path.join(dataDir, 'kafka'),
    clusterIdFile: path.join(dataDir, 'kafka-cluster-id'),
    registryDataDir: (version) => path.join(dataDir, `registry-${version}`),
    legacyRegistryDataDir: path.join(dataDir, 'registry'),
    configDir,
    serverProperties: path.join(configDir, 'server.properties'),
    logsDir,
    fetchLog: path.join(logsDir, 'fetch.log'),
    runDir,
    stackLock: path.join(runDir, 'stack.lock'),
    fetchLock: path.join(runDir, 'fetch.lock'),
    leasesDir: path.join(runDir, 'leases'),
    testOwnedMarker: path.join(runDir, 'test-owned'),
    logFile: (service) => path.join(logsDir, `${service}.log`),
    pidFile: (service) => path.join(runDir, `${service}.pid`),
  };
}

export function layoutOf(config: Config): StackLayout {
  return stackLayout(config.cacheDir);
}

export function kafkaAddress(config: Config): string {
  return `127.0.0.1:${config.stack.kafkaPort}`;
}

/** The Confluent-compatible API root, which is what @kafkajs/confluent-schema-registry wants as `host`. */
export function registryUrl(config: Config): string {
  return `http://127.0.0.1:${config.stack.registryPort}/apis/ccompat/v7`;
}

let cachedRoot: string | undefined;

/**
 * The package root (where package.json and scripts/stack live). Found by walking up because this file runs
 * both from src/stack (jest) and from dist/src/stack (the built CLI), at different depths.
 */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (fs.existsSync(candidate) && fs.existsSync(path.join(dir, 'scripts', 'stack', 'pom.xml'))) {
      cachedRoot = dir;
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the klinestream package root above ${__dirname}`);
    dir = parent;
  }
}

export function stackScript(name: string): string {
  return path.join(packageRoot(), 'scripts', 'stack', name);
}
