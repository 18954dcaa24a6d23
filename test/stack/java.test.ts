import * as path from 'node:path';
import { isKlinestreamError } from '../../src/errors';
import {
  discoverJava, findPathJava, parseJavaMajor, parseJavaVersionOutput, parseReleaseFile, validateRegistryJavaHome, type JavaFs,
} from '../../src/stack/java';
import { STACK_VERSIONS } from '../../src/stack/layout';
import { chooseRegistry, describeRegistryRuntime, fallbackNotice, runningRegistryVersion } from '../../src/stack/registry';

/**
 * A fake machine: JDK homes (bin/java + release file), symlinks, and `java -version` answers for binaries
 * without a release file. Records every `java -version` run, since the release file should spare them.
 */
class FakeMachine implements JavaFs {
  readonly files = new Map<string, string>();
  readonly executables = new Set<string>();
  readonly links = new Map<string, string>();
  readonly versionOutput = new Map<string, string>();
  readonly versionRuns: string[] = [];

  /** A JDK home; `release: undefined` leaves out the release file (then only `java -version` tells). */
  jdk(home: string, version: string, options: { release?: boolean } = {}): this {
    this.executables.add(path.join(home, 'bin', 'java'));
    if (options.release ?? true) this.files.set(path.join(home, 'release'), `IMPLEMENTOR="Test"\nJAVA_VERSION="${version}"\nOS_NAME="Linux"\n`);
    this.versionOutput.set(path.join(home, 'bin', 'java'), version);
    return this;
  }

  link(from: string, to: string): this {
    this.links.set(from, to);
    return this;
  }

  private resolve(p: string): string {
    // Follow links of the path itself and of any parent directory, as realpath does.
    for (let i = 0; i < 20; i++) {
      let changed = false;
      for (const [from, to] of this.links) {
        if (p === from || p.startsWith(from + '/')) {
          p = to + p.slice(from.length);
          changed = true;
        }
      }
      if (!changed) return p;
    }
    throw new Error(`symlink loop at ${p}`);
  }

  readFile(file: string): string | undefined {
    return this.files.get(this.resolve(file));
  }
  isExecutable(file: string): boolean {
    return this.executables.has(this.resolve(file));
  }
  listDir(dir: string): string[] {
    const names = new Set<string>();
    for (const p of [...this.files.keys(), ...this.executables, ...this.links.keys()]) {
      if (p.startsWith(dir + '/')) names.add(p.slice(dir.length + 1).split('/')[0]!);
    }
    return [...names];
  }
  realpath(file: string): string | undefined {
    const real = this.resolve(file);
    return this.executables.has(real) || this.files.has(real) ? real : undefined;
  }
  runVersion(javaBin: string): string | undefined {
    this.versionRuns.push(javaBin);
    return this.versionOutput.get(this.resolve(javaBin));
  }
}

const T17 = '/usr/lib/jvm/java-17-openjdk-amd64';
const T25 = '/usr/lib/jvm/temurin-25-jdk-amd64';

/** This machine kind: Debian's 17 as the default java (through alternatives), Temurin 25 beside it. */
function projectMachine(): FakeMachine {
  return new FakeMachine()
    .jdk(T17, '17.0.15')
    .jdk(T25, '25.0.1')
    .link('/usr/lib/jvm/java-1.17.0-openjdk-amd64', T17)
    .link('/usr/bin/java', '/etc/alternatives/java')
    .link('/etc/alternatives/java', `${T17}/bin/java`);
}

const PATH_ENV = '/usr/local/bin:/usr/bin:/bin';

function expectConfigError(fn: () => unknown, message: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isKlinestreamError(err) && err.code).toBe('CONFIG_INVALID');
  expect(isKlinestreamError(err) && err.exitCode).toBe(2);
  expect((err as Error).message).toMatch(message);
}

describe('Java version strings', () => {
  it.each([
    ['17.0.15', 17], ['25.0.1', 25], ['21', 21], ['25-ea', 25], ['1.8.0_392', 8], ['11.0.2+9', 11], ['', undefined], ['abc', undefined],
  ])('major of %j is %j', (version, major) => {
    expect(parseJavaMajor(version)).toBe(major);
  });

  it('reads JAVA_VERSION from a release file and the version from `java -version`', () => {
    expect(parseReleaseFile('IMPLEMENTOR="Eclipse Adoptium"\nJAVA_VERSION="25.0.1"\nJAVA_VERSION_DATE="2025-10-21"\n')).toBe('25.0.1');
    expect(parseReleaseFile('IMPLEMENTOR="x"\n')).toBeUndefined();
    expect(parseJavaVersionOutput('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)\n')).toBe('17.0.15');
    expect(parseJavaVersionOutput('java version "1.8.0_392"')).toBe('1.8.0_392');
  });
});

describe('discoverJava (registry runtime precedence)', () => {
  it('(a) the setting wins over everything else', () => {
    const m = projectMachine().jdk('/opt/jdk-21', '21.0.4').jdk('/opt/jdk-23', '23.0.1');
    const d = discoverJava({ setting: '/opt/jdk-21', javaHome: '/opt/jdk-23', path: PATH_ENV }, m);
    expect(d.registryJava).toMatchObject({ home: '/opt/jdk-21', bin: '/opt/jdk-21/bin/java', major: 21, version: '21.0.4', source: 'KLINESTREAM_REGISTRY_JAVA_HOME' });
    expect(d.defaultJava).toMatchObject({ home: T17, major: 17, source: 'PATH' });
  });

  it('(a) a setting without bin/java is a config error naming the setting and the path', () => {
    const m = projectMachine();
    expectConfigError(() => discoverJava({ setting: '/opt/nothing', path: PATH_ENV }, m), /^KLINESTREAM_REGISTRY_JAVA_HOME: \/opt\/nothing has no bin\/java/);
  });

  it('(a) a setting below Java 21 is a config error saying which version it found (not a silent fallback)', () => {
    const m = projectMachine();
    expectConfigError(() => discoverJava({ setting: T17, path: PATH_ENV }, m), /^KLINESTREAM_REGISTRY_JAVA_HOME: .*java-17-openjdk-amd64 is Java 17\.0\.15; the schema registry needs Java 21 or newer$/);
    expectConfigError(() => validateRegistryJavaHome(T17, m, '--registry-java-home'), /^--registry-java-home: .* is Java 17\.0\.15/);
  });

  it('(b) JAVA_HOME when it is 21+, before PATH and /usr/lib/jvm', () => {
    const m = projectMachine().jdk('/opt/jdk-21', '21.0.4');
    expect(discoverJava({ javaHome: '/opt/jdk-21', path: PATH_ENV }, m).registryJava).toMatchObject({ home: '/opt/jdk-21', source: 'JAVA_HOME' });
  });

  it('(b) a JAVA_HOME below 21 (or broken) is passed over, not an error', () => {
    const m = projectMachine();
    expect(discoverJava({ javaHome: T17, path: PATH_ENV }, m).registryJava).toMatchObject({ home: T25, source: '/usr/lib/jvm' });
    expect(discoverJava({ javaHome: '/opt/gone', path: PATH_ENV }, m).registryJava).toMatchObject({ home: T25, source: '/usr/lib/jvm' });
  });

  it('(c) the java on PATH when it is 21+, found through its symlinks, before /usr/lib/jvm', () => {
    const m = projectMachine().jdk('/opt/jdk-22', '22.0.2').link('/home/u/bin/java', '/opt/jdk-22/bin/java');
    const d = discoverJava({ path: `/home/u/bin:${PATH_ENV}` }, m);
    expect(d.registryJava).toMatchObject({ home: '/opt/jdk-22', major: 22, source: 'PATH' });
    expect(d.defaultJava).toBe(d.registryJava);
  });

  it('(d) otherwise the highest major under /usr/lib/jvm, read from release files without running java', () => {
    const m = projectMachine().jdk('/usr/lib/jvm/java-21-openjdk-amd64', '21.0.8');
    const d = discoverJava({ path: PATH_ENV }, m);
    expect(d.registryJava).toMatchObject({ home: T25, bin: `${T25}/bin/java`, version: '25.0.1', major: 25, source: '/usr/lib/jvm' });
    expect(m.versionRuns).toEqual([]);
  });

  it('(d) picks by version, not by directory name, and skips dirs without bin/java', () => {
    const m = new FakeMachine()
      .jdk('/usr/lib/jvm/zulu-21', '21.0.1')
      .jdk('/usr/lib/jvm/a-jdk-24', '24.0.2')
      .jdk('/usr/lib/jvm/b-jdk-24', '24.0.10');
    m.files.set('/usr/lib/jvm/openjdk-17/src.zip', '');
    expect(discoverJava({ path: '' }, m).registryJava).toMatchObject({ home: '/usr/lib/jvm/b-jdk-24', version: '24.0.10' });
  });

  it('runs `java -version` only for a home without a release file', () => {
    const m = projectMachine().jdk('/usr/lib/jvm/custom-jdk', '23.0.1', { release: false });
    m.executables.delete(`${T25}/bin/java`);
    expect(discoverJava({ path: PATH_ENV }, m).registryJava).toMatchObject({ home: '/usr/lib/jvm/custom-jdk', version: '23.0.1' });
    expect(m.versionRuns).toEqual(['/usr/lib/jvm/custom-jdk/bin/java']);
  });

  it('finds nothing on a machine with only Java 17, and still names the default java', () => {
    const m = projectMachine();
    m.executables.delete(`${T25}/bin/java`);
    const d = discoverJava({ javaHome: T17, path: PATH_ENV }, m);
    expect(d.registryJava).toBeUndefined();
    expect(d.defaultJava).toMatchObject({ major: 17, home: T17 });
  });

  it('takes the first java on PATH, as spawn would', () => {
    const m = projectMachine().jdk('/opt/jdk-21', '21.0.4').link('/late/java', '/opt/jdk-21/bin/java');
    expect(findPathJava(`/usr/bin:/late`, m)).toMatchObject({ home: T17, major: 17 });
    expect(findPathJava('/nowhere', m)).toBeUndefined();
    expect(findPathJava(undefined, m)).toBeUndefined();
  });
});

describe('chooseRegistry', () => {
  it('runs Apicurio 3.3.3 on the Java 21+ found, by its absolute path', () => {
    const plan = chooseRegistry(discoverJava({ path: PATH_ENV }, projectMachine()));
    expect(plan).toEqual({ version: '3.3.3', javaBin: `${T25}/bin/java`, javaMajor: 25, javaSource: '/usr/lib/jvm', fallback: false });
    expect(STACK_VERSIONS.apicurio).toBe('3.3.3');
    expect(fallbackNotice(plan)).toBeUndefined();
  });

  it('falls back to Apicurio 3.0.9 on the default java, and says so in one line', () => {
    const m = projectMachine();
    m.executables.delete(`${T25}/bin/java`);
    const plan = chooseRegistry(discoverJava({ path: PATH_ENV }, m));
    expect(plan).toEqual({ version: '3.0.9', javaBin: 'java', javaMajor: 17, javaSource: 'PATH', fallback: true });
    expect(fallbackNotice(plan)).toBe(
      'no Java 21+ found (KLINESTREAM_REGISTRY_JAVA_HOME, JAVA_HOME, PATH, /usr/lib/jvm): running Apicurio 3.0.9 on Java 17; ' +
        'set KLINESTREAM_REGISTRY_JAVA_HOME to a Java 21+ home for 3.3.3',
    );
  });

  it('still falls back when not even the default java can be identified', () => {
    const plan = chooseRegistry({ registryJava: undefined, defaultJava: undefined });
    expect(plan).toMatchObject({ version: '3.0.9', javaBin: 'java', javaMajor: undefined });
    expect(fallbackNotice(plan)).toMatch(/running Apicurio 3\.0\.9 on the default java;/);
  });
});

describe('runningRegistryVersion', () => {
  it('reads our marker, or for JVMs started before it existed, the version in the jar path', () => {
    expect(runningRegistryVersion(['/x/bin/java', '-Dklinestream.stack.registry-version=3.3.3', '-jar', '/c/artifacts/apicurio-registry-3.3.3/dist/quarkus-run.jar'])).toBe('3.3.3');
    expect(runningRegistryVersion(['java', '-Xmx512m', '-jar', '/c/artifacts/apicurio-registry-3.0.9/dist/apicurio-registry-app-3.0.9-runner.jar'])).toBe('3.0.9');
    expect(runningRegistryVersion(['java', '-jar', '/elsewhere/app.jar'])).toBeUndefined();
    expect(runningRegistryVersion(['java', '-version'])).toBeUndefined();
  });

  it('describes a runtime the way status lines do', () => {
    expect(describeRegistryRuntime('3.3.3', 25)).toBe('apicurio 3.3.3 on java 25');
    expect(describeRegistryRuntime(undefined, undefined)).toBe('apicurio unknown version on java unknown');
  });
});
