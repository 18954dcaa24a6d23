/**
 * Telling what Java runtime a home directory holds, and checking the configured registry Java
 * (KLINESTREAM_REGISTRY_JAVA_HOME) at config time: a wrong path is a configuration mistake (exit 2). Here,
 * in the config layer, so that loading the configuration never loads the embedded stack; the search for a
 * runtime when none is configured (JAVA_HOME, PATH, /usr/lib/jvm) belongs to the stack (src/stack/java.ts).
 *
 * Versions come from the JDK's `release` file (`JAVA_VERSION="25.0.1"`), which every OpenJDK build ships;
 * only a home without one costs a `bin/java -version` run.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../errors';

/** The lowest Java major that runs Apicurio 3.3.x. */
export const REGISTRY_MIN_JAVA = 21;

/** Where distributions (Debian, Temurin's apt packages) install their JDKs. */
export const SYSTEM_JVM_DIR = '/usr/lib/jvm';

/** The registry Java setting, named as users see it in errors. */
export const REGISTRY_JAVA_SETTING = 'KLINESTREAM_REGISTRY_JAVA_HOME';

export interface JavaFs {
  /** The file's text, or undefined when it is missing or unreadable. */
  readFile(file: string): string | undefined;
  /** True for an existing executable regular file (or a symlink to one). */
  isExecutable(file: string): boolean;
  /** Entry names of a directory; empty when it is missing. */
  listDir(dir: string): string[];
  /** The fully resolved path (symlinks followed), or undefined when it does not exist. */
  realpath(file: string): string | undefined;
  /** The version string `java -version` prints (`"17.0.15"`), or undefined when it cannot be run. */
  runVersion(javaBin: string): string | undefined;
}

export type JavaSource = typeof REGISTRY_JAVA_SETTING | 'JAVA_HOME' | 'PATH' | typeof SYSTEM_JVM_DIR;

export interface JavaInstall {
  home: string;
  /** `<home>/bin/java`, what gets spawned. */
  bin: string;
  /** As the runtime reports it, e.g. `25.0.1`. */
  version: string;
  major: number;
  /** Which rule found it (for messages). */
  source: JavaSource;
}

/** `17.0.15` -> 17, `21` -> 21, `25-ea` -> 25, and the pre-9 scheme `1.8.0_392` -> 8. */
export function parseJavaMajor(version: string): number | undefined {
  const m = /^(\d+)(?:\.(\d+))?/.exec(version.trim());
  if (!m) return undefined;
  const first = Number(m[1]);
  if (first === 1 && m[2] !== undefined) return Number(m[2]);
  return first > 0 ? first : undefined;
}

/** The JAVA_VERSION line of a JDK's `release` file. */
export function parseReleaseFile(text: string): string | undefined {
  const m = /^JAVA_VERSION="?([^"\n]+)"?\s*$/m.exec(text);
  return m ? m[1]!.trim() : undefined;
}

/** `openjdk version "17.0.15" 2025-04-15` (any vendor) -> `17.0.15`. */
export function parseJavaVersionOutput(text: string): string | undefined {
  return /version "([^"]+)"/.exec(text)?.[1];
}

/**
 * The runtime in `home`, if `home/bin/java` exists and its version can be told: from `home/release`,
 * else by running it.
 */
export function inspectJavaHome(home: string, source: JavaSource, jfs: JavaFs): JavaInstall | undefined {
  const bin = path.join(home, 'bin', 'java');
  if (!jfs.isExecutable(bin)) return undefined;
  const release = jfs.readFile(path.join(home, 'release'));
  const version = (release === undefined ? undefined : parseReleaseFile(release)) ?? jfs.runVersion(bin);
  const major = version === undefined ? undefined : parseJavaMajor(version);
  if (version === undefined || major === undefined) return undefined;
  return { home, bin, version, major, source };
}

/**
 * Checks KLINESTREAM_REGISTRY_JAVA_HOME: it must hold bin/java and be Java 21+. A ConfigError (exit 2)
 * otherwise, because the user asked for this runtime and silently ignoring it would hide the mistake.
 */
export function validateRegistryJavaHome(home: string, jfs: JavaFs, name: string = REGISTRY_JAVA_SETTING): JavaInstall {
  if (!jfs.isExecutable(path.join(home, 'bin', 'java'))) {
    throw new ConfigError(name, `${home} has no bin/java; expected the home directory of a Java ${REGISTRY_MIN_JAVA}+ runtime`);
  }
  const java = inspectJavaHome(home, REGISTRY_JAVA_SETTING, jfs);
  if (java === undefined) {
    throw new ConfigError(name, `cannot tell the Java version of ${home} (no JAVA_VERSION in ${path.join(home, 'release')} and \`bin/java -version\` failed)`);
  }
  if (java.major < REGISTRY_MIN_JAVA) {
    throw new ConfigError(name, `${home} is Java ${java.version}; the schema registry needs Java ${REGISTRY_MIN_JAVA} or newer`);
  }
  return java;
}

/** The real filesystem (and, for homes without a release file, a real `java -version`). */
export const systemJavaFs: JavaFs = {
  readFile(file) {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  },
  isExecutable(file) {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  },
  listDir(dir) {
    try {
      return fs.readdirSync(dir);
    } catch {
      return [];
    }
  },
  realpath(file) {
    try {
      return fs.realpathSync(file);
    } catch {
      return undefined;
    }
  },
  runVersion(javaBin) {
    const r = spawnSync(javaBin, ['-version'], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error !== undefined || r.status !== 0) return undefined;
    return parseJavaVersionOutput(`${r.stderr}\n${r.stdout}`);
  },
};
