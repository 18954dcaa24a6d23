import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isKlinestreamError } from '../../src/errors';
import { createLogger } from '../../src/observability/log';
import { ensureArtifacts, fetchedArtifacts } from '../../src/stack/fetch';
import { STACK_VERSIONS, stackLayout } from '../../src/stack/layout';

/**
 * A stand-in `mvn` on PATH: it does what the real goals would do to the directories passed as -D options,
 * or fails like Maven when FAKE_MVN_FAIL is set, so fetch's bookkeeping is tested without a network.
 */
const FAKE_MVN = `#!/usr/bin/env bash
set -euo pipefail
echo "$@" >> "$FAKE_MVN_CALLS"
for a in "$@"; do
  case "$a" in
    -Dstack.kafkaLibs=*) libs="\${a#*=}" ;;
    -Dstack.registryDir=*) reg="\${a#*=}" ;;
    -Dapicurio.version=*) ver="\${a#*=}" ;;
  esac
done
if [[ " $* " == *" dependency:copy-dependencies@kafka-libs "* ]]; then
  mkdir -p "$libs"; touch "$libs/kafka_2.13-${STACK_VERSIONS.kafka}.jar" "$libs/kafka-clients-${STACK_VERSIONS.kafka}.jar"
fi
if [[ -n "\${FAKE_MVN_FAIL:-}" ]]; then echo "[ERROR] Failed to execute goal: $FAKE_MVN_FAIL"; exit 1; fi
if [[ " $* " == *" wagon:download-single@registry-archive "* ]]; then
  # The real archives' layouts: 3.3.x has quarkus-run.jar at the root, 3.0.x a legacy *-runner.jar.
  tree="$FAKE_MVN_TMP/tree-$ver"; mkdir -p "$reg" "$tree"
  case "$ver" in 3.0.*) touch "$tree/apicurio-registry-app-$ver-runner.jar" ;; *) mkdir -p "$tree/lib" && touch "$tree/quarkus-run.jar" ;; esac
  archive="$reg/apicurio-registry-app-$ver-all.tar.gz"
  tar -czf "$archive" -C "$tree" .
  if [[ -n "\${FAKE_MVN_BAD_SHA:-}" ]]; then echo 0000000000000000000000000000000000000000 > "$archive.sha1"; else sha1sum "$archive" | cut -d' ' -f1 > "$archive.sha1"; fi
fi
`;

describe('ensureArtifacts', () => {
  let dir: string;
  let calls: string;
  const saved = { ...process.env };
  const log = createLogger({ level: 'error' });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-fetch-'));
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'mvn'), FAKE_MVN, { mode: 0o755 });
    calls = path.join(dir, 'mvn-calls');
    fs.writeFileSync(calls, '');
    process.env.PATH = `${bin}:${process.env.PATH}`;
    process.env.FAKE_MVN_CALLS = calls;
    process.env.FAKE_MVN_TMP = path.join(dir, 'tmp');
  });
  afterEach(() => {
    process.env = { ...saved };
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const mvnCalls = () => fs.readFileSync(calls, 'utf8').trim().split('\n').filter((l) => l !== '');

  const NEW = STACK_VERSIONS.apicurio;
  const OLD = STACK_VERSIONS.apicurioOnJava17;

  it('fetches Kafka and the chosen registry release once, verifies and unpacks it, and then never calls Maven again', async () => {
    const layout = stackLayout(path.join(dir, 'cache'));
    const artifacts = await ensureArtifacts(layout, NEW, log);
    expect(artifacts).toEqual({
      kafkaLibs: layout.kafkaLibs,
      registryVersion: NEW,
      registryJar: path.join(layout.registryHome(NEW), 'dist', 'quarkus-run.jar'),
    });
    expect(fs.existsSync(path.join(layout.kafkaHome, '.complete'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(layout.registryHome(NEW), '.complete'), 'utf8'))).toMatchObject({ versions: { apicurio: NEW } });
    // The archive is dropped once unpacked, and the other release is not fetched.
    expect(fs.existsSync(path.join(layout.registryHome(NEW), 'archive'))).toBe(false);
    expect(fs.existsSync(layout.registryHome(OLD))).toBe(false);
    expect(mvnCalls()).toHaveLength(1);
    expect(mvnCalls()[0]).toContain(`-Dkafka.version=${STACK_VERSIONS.kafka}`);
    expect(mvnCalls()[0]).toContain(`-Dapicurio.version=${NEW}`);

    await ensureArtifacts(layout, NEW, log);
    expect(mvnCalls()).toHaveLength(1);
  });

  it('keeps one directory per registry release: switching fetches only the missing release, switching back nothing', async () => {
    const layout = stackLayout(path.join(dir, 'cache'));
    await ensureArtifacts(layout, NEW, log);
    const old = await ensureArtifacts(layout, OLD, log);
    expect(old.registryJar).toBe(path.join(layout.registryHome(OLD), 'dist', `apicurio-registry-app-${OLD}-runner.jar`));
    expect(mvnCalls()).toHaveLength(2);
    expect(mvnCalls()[1]).toContain(`-Dapicurio.version=${OLD}`);
    expect(mvnCalls()[1]).not.toContain('dependency:copy-dependencies@kafka-libs');
    expect(fetchedArtifacts(layout, NEW)?.registryJar).toBe(path.join(layout.registryHome(NEW), 'dist', 'quarkus-run.jar'));
    await ensureArtifacts(layout, NEW, log);
    expect(mvnCalls()).toHaveLength(2);
  });

  it('fails with STACK_FETCH_FAILED pointing at the log, writes no marker, and redoes the fetch next time', async () => {
    const layout = stackLayout(path.join(dir, 'cache'));
    process.env.FAKE_MVN_FAIL = 'network is down';
    const err = await ensureArtifacts(layout, NEW, log).catch((e: unknown) => e);
    expect(isKlinestreamError(err) && err.code).toBe('STACK_FETCH_FAILED');
    expect((err as Error).message).toContain(layout.fetchLog);
    expect((err as Error).message).toContain('network is down');
    expect(fs.readFileSync(layout.fetchLog, 'utf8')).toContain('[ERROR] Failed to execute goal: network is down');
    // Kafka's jars were (partly) copied before the failure, but without a marker they do not count.
    expect(fs.existsSync(path.join(layout.kafkaLibs, `kafka_2.13-${STACK_VERSIONS.kafka}.jar`))).toBe(true);
    expect(fetchedArtifacts(layout, NEW)).toBeUndefined();

    delete process.env.FAKE_MVN_FAIL;
    await ensureArtifacts(layout, NEW, log);
    expect(fetchedArtifacts(layout, NEW)).toBeDefined();
    expect(mvnCalls()).toHaveLength(2);
    // Both components were redone from scratch.
    expect(mvnCalls()[1]).toContain('dependency:copy-dependencies@kafka-libs');
    expect(mvnCalls()[1]).toContain('wagon:download-single@registry-archive');
  });

  it('fetches only the component whose marker is missing', async () => {
    const layout = stackLayout(path.join(dir, 'cache'));
    await ensureArtifacts(layout, NEW, log);
    fs.rmSync(path.join(layout.registryHome(NEW), '.complete'));
    await ensureArtifacts(layout, NEW, log);
    expect(mvnCalls()).toHaveLength(2);
    expect(mvnCalls()[1]).not.toContain('dependency:copy-dependencies@kafka-libs');
    expect(mvnCalls()[1]).toContain('wagon:download-single@registry-archive');
  });

  it('rejects an archive whose sha1 does not match', async () => {
    const layout = stackLayout(path.join(dir, 'cache'));
    process.env.FAKE_MVN_BAD_SHA = '1';
    const err = await ensureArtifacts(layout, NEW, log).catch((e: unknown) => e);
    expect(isKlinestreamError(err) && err.code).toBe('STACK_FETCH_FAILED');
    expect((err as Error).message).toMatch(/checksum mismatch/);
    expect(fetchedArtifacts(layout, NEW)).toBeUndefined();
  });

  it('says so when Maven is not installed', async () => {
    const layout = stackLayout(path.join(dir, 'cache'));
    process.env.PATH = path.join(dir, 'empty');
    const err = await ensureArtifacts(layout, NEW, log).catch((e: unknown) => e);
    expect(isKlinestreamError(err) && err.code).toBe('STACK_FETCH_FAILED');
    expect((err as Error).message).toMatch(/mvn is not on PATH/);
  });
});
