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
  esac
done
if [[ " $* " == *" dependency:copy-dependencies@kafka-libs "* ]]; then
  mkdir -p "$libs"; touch "$libs/kafka_2.13-${STACK_VERSIONS.kafka}.jar" "$libs/kafka-clients-${STACK_VERSIONS.kafka}.jar"
fi
if [[ -n "\${FAKE_MVN_FAIL:-}" ]]; then echo "[ERROR] Failed to execute goal: $FAKE_MVN_FAIL"; exit 1; fi
if [[ " $* " == *" wagon:download-single@registry-archive "* ]]; then
  mkdir -p "$reg" "$FAKE_MVN_TMP/tree"; touch "$FAKE_MVN_TMP/tree/apicurio-registry-app-${STACK_VERSIONS.apicurio}-runner.jar"
  archive="$reg/apicurio-registry-app-${STACK_VERSIONS.apicurio}-all.tar.gz"
  tar -czf "$archive" -C "$FAKE_MVN_TMP/tree" .
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

  it('fetches both components once, verifies and unpacks the registry, and then never calls Maven again', async () => {
    const layout = stackLayout(path.join(dir, 'cache'));
    const artifacts = await ensureArtifacts(layout, log);
    expect(artifacts.kafkaLibs).toBe(layout.kafkaLibs);
    expect(artifacts.registryJar).toBe(path.join(layout.registryHome, 'dist', `apicurio-registry-app-${STACK_VERSIONS.apicurio}-runner.jar`));
    expect(fs.existsSync(path.join(layout.kafkaHome, '.complete'))).toBe(true);
    expect(fs.existsSync(path.join(layout.registryHome, '.complete'))).toBe(true);
    // The archive is dropped once unpacked.
    expect(fs.existsSync(path.join(layout.registryHome, 'archive'))).toBe(false);
    expect(mvnCalls()).toHaveLength(1);
    expect(mvnCalls()[0]).toContain(`-Dkafka.version=${STACK_VERSIONS.kafka}`);

    await ensureArtifacts(layout, log);
    expect(mvnCalls()).toHaveLength(1);
  });

  it('fails with STACK_FETCH_FAILED pointing at the log, writes no marker, and redoes the fetch next time', async () => {
    const layout = stackLayout(path.join(dir, 'cache'));
    process.env.FAKE_MVN_FAIL = 'network is down';
    const err = await ensureArtifacts(layout, log).catch((e: unknown) => e);
    expect(isKlinestreamError(err) && err.code).toBe('STACK_FETCH_FAILED');
    expect((err as Error).message).toContain(layout.fetchLog);
    expect((err as Error).message).toContain('network is down');
    expect(fs.readFileSync(layout.fetchLog, 'utf8')).toContain('[ERROR] Failed to execute goal: network is down');
    // Kafka's jars were (partly) copied before the failure, but without a marker they do not count.
    expect(fs.existsSync(path.join(layout.kafkaLibs, `kafka_2.13-${STACK_VERSIONS.kafka}.jar`))).toBe(true);
    expect(fetchedArtifacts(layout)).toBeUndefined();

    delete process.env.FAKE_MVN_FAIL;
    await ensureArtifacts(layout, log);
    expect(fetchedArtifacts(layout)).toBeDefined();
    expect(mvnCalls()).toHaveLength(2);
    // Both components were redone from scratch.
    expect(mvnCalls()[1]).toContain('dependency:copy-dependencies@kafka-libs');
    expect(mvnCalls()[1]).toContain('wagon:download-single@registry-archive');
  });

  it('fetches only the component whose marker is missing', async () => {
    const layout = stackLayout(path.join(dir, 'cache'));
    await ensureArtifacts(layout, log);
    fs.rmSync(path.join(layout.registryHome, '.complete'));
    await ensureArtifacts(layout, log);
    expect(mvnCalls()).toHaveLength(2);
    expect(mvnCalls()[1]).not.toContain('dependency:copy-dependencies@kafka-libs');
    expect(mvnCalls()[1]).toContain('wagon:download-single@registry-archive');
  });

  it('rejects an archive whose sha1 does not match', async () => {
    const layout = stackLayout(path.join(dir, 'cache'));
    process.env.FAKE_MVN_BAD_SHA = '1';
    const err = await ensureArtifacts(layout, log).catch((e: unknown) => e);
    expect(isKlinestreamError(err) && err.code).toBe('STACK_FETCH_FAILED');
    expect((err as Error).message).toMatch(/checksum mismatch/);
    expect(fetchedArtifacts(layout)).toBeUndefined();
  });

  it('says so when Maven is not installed', async () => {
    const layout = stackLayout(path.join(dir, 'cache'));
    process.env.PATH = path.join(dir, 'empty');
    const err = await ensureArtifacts(layout, log).catch((e: unknown) => e);
    expect(isKlinestreamError(err) && err.code).toBe('STACK_FETCH_FAILED');
    expect((err as Error).message).toMatch(/mvn is not on PATH/);
  });
});
