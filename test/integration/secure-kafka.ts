/**
 * A private Kafka broker that, besides the stack's PLAINTEXT listener (inter-broker and probes only), has a
 * SASL_SSL listener with SCRAM-SHA-512, as managed clusters do: a CA and a broker certificate (SAN
 * 127.0.0.1 and localhost) generated with openssl into the broker's temp dir, and one SCRAM user created
 * when the storage is formatted (`kafka-storage format --add-scram`). Started through the stack's own
 * service code, with the listener added to the stack's server.properties, so it is the broker users run.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig, type Config } from '../../src/config/config';
import { createLogger } from '../../src/observability/log';
import { ensureArtifacts } from '../../src/stack/fetch';
import { newClusterId, renderServerProperties, storageFormatArgs } from '../../src/stack/kafka-properties';
import { layoutOf, stackScript } from '../../src/stack/layout';
import { registryPlan } from '../../src/stack/registry';
import { startService, stackServices, stopPids, type Service } from '../../src/stack/services';
import { freePorts, privateStackEnv } from './helpers';

function run(command: string, args: string[], cwd: string): void {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
}

/** A CA, and a broker key and certificate signed by it, as a PKCS12 keystore Kafka reads. Returns the CA's PEM path. */
function generateCertificates(dir: string, storePassword: string): { caPem: string; keystore: string } {
  fs.mkdirSync(dir, { recursive: true });
  run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=klinestream test CA'], dir);
  run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'broker.key', '-out', 'broker.csr', '-subj', '/CN=localhost'], dir);
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run('openssl', ['x509', '-req', '-in', 'broker.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'broker.pem', '-days', '2', '-extfile', 'san.ext'], dir);
  run('openssl', ['pkcs12', '-export', '-in', 'broker.pem', '-inkey', 'broker.key', '-certfile', 'ca.pem', '-name', 'broker', '-out', 'broker.p12', '-passout', `pass:${storePassword}`], dir);
  return { caPem: path.join(dir, 'ca.pem'), keystore: path.join(dir, 'broker.p12') };
}

export class SecureKafka {
  pid: number | undefined;

  private constructor(
    readonly dir: string,
    readonly config: Config,
    private readonly service: Service,
    /** The SASL_SSL listener's address: what clients are given. */
    readonly brokers: string,
    readonly caPem: string,
    readonly username: string,
    readonly password: string,
  ) {}

  static async start(): Promise<SecureKafka> {
    const { dir, env } = await privateStackEnv('klinestream-sasl-');
    const config = loadConfig(env);
    const [saslPort] = await freePorts(1);
    const storePassword = randomBytes(12).toString('hex');
    const username = 'klinestream-test';
    const password = `scram-${randomBytes(12).toString('hex')}`;
    const { caPem, keystore } = generateCertificates(path.join(dir, 'tls'), storePassword);
    const plain = `127.0.0.1:${config.stack.kafkaPort}`;
    const secure = `127.0.0.1:${saslPort}`;
    // Later keys win in a Java properties file, so these replace the stack's listener lines.
    const extra = [
      `listeners=PLAINTEXT://${plain},CONTROLLER://127.0.0.1:${config.stack.controllerPort},SASL_SSL://${secure}`,
      `advertised.listeners=PLAINTEXT://${plain},SASL_SSL://${secure}`,
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL',
      'sasl.enabled.mechanisms=SCRAM-SHA-512',
      'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      `ssl.keystore.location=${keystore}`,
      'ssl.keystore.type=PKCS12',
      `ssl.keystore.password=${storePassword}`,
      `ssl.key.password=${storePassword}`,
    ].join('\n') + '\n';
    const layout = layoutOf(config);
    const log = createLogger({ level: 'error' });
    const artifacts = await ensureArtifacts(layout, registryPlan(config).version, log);
    // Formatted here, with the SCRAM user; the stack's prepare then finds the storage formatted and skips it.
    fs.mkdirSync(layout.configDir, { recursive: true });
    fs.mkdirSync(layout.kafkaDataDir, { recursive: true });
    fs.writeFileSync(layout.serverProperties, renderServerProperties({ kafkaPort: config.stack.kafkaPort, controllerPort: config.stack.controllerPort, dataDir: layout.kafkaDataDir }) + extra);
    run('java', [
      '-Xmx256m', `-Dlog4j.configuration=file:${stackScript('log4j.properties')}`, '-cp', path.join(artifacts.kafkaLibs, '*'), 'kafka.tools.StorageTool',
      ...storageFormatArgs(newClusterId(), layout.serverProperties), `--add-scram=SCRAM-SHA-512=[name=${username},password=${password}]`,
    ], dir);
    const base = stackServices(config, registryPlan(config))[0]!;
    const service: Service = {
      ...base,
      async prepare(a, l) {
        const started = await base.prepare(a, l);
        fs.appendFileSync(layout.serverProperties, extra);
        return started;
      },
    };
    const k = new SecureKafka(dir, config, service, secure, caPem, username, password);
    k.pid = (await startService(service, artifacts, log, 120_000)).pid;
    return k;
  }

  /** The client settings of SPEC section 5 for this broker (password as given, unless replaced). */
  clientEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
    return {
      KAFKA_BROKERS: this.brokers,
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: this.username,
      KAFKA_SASL_PASSWORD: this.password,
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: this.caPem,
      ...overrides,
    };
  }

  async destroy(): Promise<void> {
    if (this.pid !== undefined) await stopPids(this.service, [this.pid], createLogger({ level: 'error' })).catch(() => undefined);
    this.pid = undefined;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
