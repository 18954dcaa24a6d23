/**
 * A private Kafka broker for tests that stop and restart the broker (which the shared stack must never go
 * through while other suites use it): its own cache dir and ports, the shared downloaded jars, the shared
 * schema registry (ids are global, so nothing gets mixed up). Started and stopped through the stack's own
 * service code, so it is the same broker users run.
 */
import * as fs from 'node:fs';
import { loadConfig, type Config } from '../../src/config/config';
import { createLogger } from '../../src/observability/log';
import { ensureArtifacts } from '../../src/stack/fetch';
import { layoutOf } from '../../src/stack/layout';
import { registryPlan } from '../../src/stack/registry';
import { startService, stackServices, stopPids, type Service } from '../../src/stack/services';
import { privateStackEnv } from './helpers';

export class PrivateKafka {
  pid: number | undefined;
  private constructor(readonly dir: string, readonly config: Config, private readonly service: Service) {}

  static async start(): Promise<PrivateKafka> {
    const { dir, env } = await privateStackEnv('klinestream-kafka-');
    const config = loadConfig(env);
    const service = stackServices(config, registryPlan(config))[0]!;
    const k = new PrivateKafka(dir, config, service);
    await k.up();
    return k;
  }

  get brokers(): string {
    return `127.0.0.1:${this.config.stack.kafkaPort}`;
  }

  /** Starts the broker (again): the same data directory, so topics and offsets survive a stop. */
  async up(): Promise<void> {
    const log = createLogger({ level: 'error' });
    const artifacts = await ensureArtifacts(layoutOf(this.config), registryPlan(this.config).version, log);
    this.pid = (await startService(this.service, artifacts, log, 120_000)).pid;
  }

  /** A clean broker shutdown (SIGTERM, as an operator's restart does). */
  async down(): Promise<void> {
    if (this.pid === undefined) return;
    await stopPids(this.service, [this.pid], createLogger({ level: 'error' }));
    this.pid = undefined;
  }

  async destroy(): Promise<void> {
    await this.down().catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
