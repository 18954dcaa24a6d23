/**
 * Finding a Java runtime for the schema registry. Apicurio 3.3.x is Java 21 bytecode (class file 65) while
 * Kafka 3.9.1 is tested on 17, so the registry may need a different JVM than the default `java`. The search
 * is a pure function over a small filesystem interface (`JavaFs`) so every precedence rule is unit-tested
 * with a fake tree; `systemJavaFs` (src/config/java-home.ts) is the real one.
 */
import * as path from 'node:path';
import {
  inspectJavaHome, REGISTRY_MIN_JAVA, SYSTEM_JVM_DIR, systemJavaFs, validateRegistryJavaHome, parseJavaMajor,
  type JavaFs, type JavaInstall,
} from '../config/java-home';

// The inspection of one home lives with the configuration, which checks the configured one; re-exported for the stack.
export {
  inspectJavaHome, parseJavaMajor, parseJavaVersionOutput, parseReleaseFile, REGISTRY_JAVA_SETTING, REGISTRY_MIN_JAVA,
  SYSTEM_JVM_DIR, systemJavaFs, validateRegistryJavaHome, type JavaFs, type JavaInstall, type JavaSource,
} from '../config/java-home';

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

/** The Java a running process executes (from /proc/<pid>/exe), for status lines. */
export function javaOfProcess(pid: number, jfs: JavaFs = systemJavaFs): JavaInstall | undefined {
  const exe = jfs.realpath(`/proc/${pid}/exe`);
  if (exe === undefined) return undefined;
  const binDir = path.dirname(exe);
  if (path.basename(binDir) !== 'bin') return undefined;
  return inspectJavaHome(path.dirname(binDir), 'PATH', jfs);
}
