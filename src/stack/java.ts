/**
 * Finding a Java runtime for the schema registry. Apicurio 3.3.x is Java 21 bytecode (class file 65) while
 * Kafka 3.9.1 is tested on 17, so the registry may need a different JVM than the default `java`. The search
 * is a pure function over a small filesystem interface (`JavaFs`) so every precedence rule is unit-tested
 * with a fake tree; `systemJavaFs` is the real one.
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

export interface JavaSearch {
  /** KLINESTREAM_REGISTRY_JAVA_HOME (config.stack.registryJavaHome), already resolved to an absolute path. */
  setting?: string | undefined;
  /** The JAVA_HOME environment variable. */
  javaHome?: string | undefined;
  /** The PATH environment variable. */
  path?: string | undefined;
  /** Defaults to /usr/lib/jvm. */
  jvmDir?: string | undefined;
}

export interface JavaDiscovery {
  /** The Java 21+ runtime the registry should use, if any. */
  registryJava: JavaInstall | undefined;
  /** The `java` found on PATH (what Kafka and the fallback registry run on), whatever its version. */
  defaultJava: JavaInstall | undefined;
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

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[^0-9]+/).filter(Boolean).map(Number);
  const pb = b.split(/[^0-9]+/).filter(Boolean).map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
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
 * The `java` a plain `spawn('java')` would run: the first PATH entry holding one, followed through its
 * symlinks (/usr/bin/java -> /etc/alternatives/java -> /usr/lib/jvm/<jdk>/bin/java) to the JDK home whose
 * release file says what it is.
 */
export function findPathJava(pathEnv: string | undefined, jfs: JavaFs): JavaInstall | undefined {
  for (const dir of (pathEnv ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, 'java');
    if (!jfs.isExecutable(candidate)) continue;
    const real = jfs.realpath(candidate);
    if (real === undefined) return undefined;
    const binDir = path.dirname(real);
    // A wrapper script that is not <home>/bin/java tells us nothing about a home; ask the binary itself.
    if (path.basename(real) !== 'java' || path.basename(binDir) !== 'bin') {
      const version = jfs.runVersion(real);
      const major = version === undefined ? undefined : parseJavaMajor(version);
      return version === undefined || major === undefined ? undefined : { home: binDir, bin: real, version, major, source: 'PATH' };
    }
    return inspectJavaHome(path.dirname(binDir), 'PATH', jfs);
  }
  return undefined;
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

/**
 * The Java 21+ runtime for the registry, first match wins: (a) the setting, (b) JAVA_HOME, (c) the `java`
 * on PATH, (d) the highest major version under /usr/lib/jvm. (b) to (d) are skipped when below 21; (a) is
 * an error then. Also returns the PATH java, which the fallback registry and Kafka run on.
 */
export function discoverJava(search: JavaSearch, jfs: JavaFs): JavaDiscovery {
  const defaultJava = findPathJava(search.path, jfs);
  const enough = (j: JavaInstall | undefined): j is JavaInstall => j !== undefined && j.major >= REGISTRY_MIN_JAVA;
  if (search.setting !== undefined && search.setting !== '') {
    return { registryJava: validateRegistryJavaHome(search.setting, jfs), defaultJava };
  }
  if (search.javaHome !== undefined && search.javaHome !== '') {
    const fromEnv = inspectJavaHome(search.javaHome, 'JAVA_HOME', jfs);
    if (enough(fromEnv)) return { registryJava: fromEnv, defaultJava };
  }
  if (enough(defaultJava)) return { registryJava: defaultJava, defaultJava };
  const jvmDir = search.jvmDir ?? SYSTEM_JVM_DIR;
  let best: JavaInstall | undefined;
  // Sorted so that equal versions (a JDK and its alias symlink) resolve the same way on every run.
  for (const name of [...jfs.listDir(jvmDir)].sort()) {
    if (name.startsWith('.')) continue;
    const java = inspectJavaHome(path.join(jvmDir, name), SYSTEM_JVM_DIR, jfs);
    if (!enough(java)) continue;
    if (best === undefined || compareVersions(java.version, best.version) > 0) best = java;
  }
  return { registryJava: best, defaultJava };
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

/** The Java a running process executes (from /proc/<pid>/exe), for status lines. */
export function javaOfProcess(pid: number, jfs: JavaFs = systemJavaFs): JavaInstall | undefined {
  const exe = jfs.realpath(`/proc/${pid}/exe`);
  if (exe === undefined) return undefined;
  const binDir = path.dirname(exe);
  if (path.basename(binDir) !== 'bin') return undefined;
  return inspectJavaHome(path.dirname(binDir), 'PATH', jfs);
}
