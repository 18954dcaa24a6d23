/**
 * Which Apicurio release the local stack's registry runs, and on which Java: 3.3.3 on a Java 21+ runtime
 * when one is found, else 3.0.9 on the default `java` (Java 17 on these machines). Decided once per command
 * (`registryPlan`) and handed down, so fetching, starting and reporting all agree.
 */
import type { Config } from '../config/config';
import { discoverJava, REGISTRY_JAVA_SETTING, REGISTRY_MIN_JAVA, SYSTEM_JVM_DIR, systemJavaFs, type JavaDiscovery, type JavaFs, type JavaInstall } from './java';
import { STACK_VERSIONS } from './layout';

export interface RegistryPlan {
  /** The Apicurio release to fetch and run. */
  version: string;
  /** What to spawn: an absolute `<home>/bin/java` for 3.3.3, plain `java` (PATH) for the fallback. */
  javaBin: string;
  /** The runtime's major version when known (the PATH java may be unreadable). */
  javaMajor: number | undefined;
  /** Where the Java came from, for messages. */
  javaSource: JavaInstall['source'] | undefined;
  /** True when no Java 21+ was found and the registry falls back to the Java 17 release. */
  fallback: boolean;
}

/** The plan for a discovery result: 3.3.3 with the Java 21+ found, else 3.0.9 with the default java. */
export function chooseRegistry(discovery: JavaDiscovery): RegistryPlan {
  const java = discovery.registryJava;
  if (java !== undefined) {
    return { version: STACK_VERSIONS.apicurio, javaBin: java.bin, javaMajor: java.major, javaSource: java.source, fallback: false };
  }
  return {
    version: STACK_VERSIONS.apicurioOnJava17,
    // Plain `java`, as Kafka runs: whatever PATH says at spawn time, with the usual "not on PATH" error.
    javaBin: 'java',
    javaMajor: discovery.defaultJava?.major,
    javaSource: discovery.defaultJava === undefined ? undefined : 'PATH',
    fallback: true,
  };
}

/** The one line `stack up` prints when it falls back; undefined when it does not. */
export function fallbackNotice(plan: RegistryPlan): string | undefined {
  if (!plan.fallback) return undefined;
  const on = plan.javaMajor === undefined ? 'the default java' : `Java ${plan.javaMajor}`;
  return `no Java ${REGISTRY_MIN_JAVA}+ found (${REGISTRY_JAVA_SETTING}, JAVA_HOME, PATH, ${SYSTEM_JVM_DIR}): ` +
    `running Apicurio ${plan.version} on ${on}; set ${REGISTRY_JAVA_SETTING} to a Java ${REGISTRY_MIN_JAVA}+ home for ${STACK_VERSIONS.apicurio}`;
}

/**
 * The plan for this machine. JAVA_HOME and PATH are not klinestream settings but the standard way to say
 * which Java to use, so they are read here, once per command.
 */
export function registryPlan(config: Config, env: NodeJS.ProcessEnv = process.env, jfs: JavaFs = systemJavaFs): RegistryPlan {
  return chooseRegistry(discoverJava({ setting: config.stack.registryJavaHome, javaHome: env.JAVA_HOME, path: env.PATH }, jfs));
}

/** Command-line marker naming the Apicurio release a registry JVM runs (read back by `runningRegistryVersion`). */
export const REGISTRY_VERSION_ARG = '-Dklinestream.stack.registry-version=';

/**
 * The Apicurio release a registry JVM runs, from its command line: our marker, or for a JVM started before
 * the marker existed, the version in its jar's path (`artifacts/apicurio-registry-3.0.9/dist/...`).
 */
export function runningRegistryVersion(argv: readonly string[]): string | undefined {
  const marked = argv.find((a) => a.startsWith(REGISTRY_VERSION_ARG));
  if (marked !== undefined) return marked.slice(REGISTRY_VERSION_ARG.length);
  const jar = argv[argv.indexOf('-jar') + 1];
  if (argv.indexOf('-jar') < 0 || jar === undefined) return undefined;
  return /apicurio-registry-(\d+\.\d+\.\d+[^/]*)\//.exec(jar)?.[1];
}

/** How status lines name a registry runtime: `apicurio 3.3.3 on java 25`. */
export function describeRegistryRuntime(version: string | undefined, javaMajor: number | undefined): string {
  return `apicurio ${version ?? 'unknown version'} on java ${javaMajor ?? 'unknown'}`;
}
