/**
 * Jest global setup for the integration project. Without KAFKA_BROKERS it brings the embedded local stack
 * up once per test run (taking a lease on it, see src/stack/stack.ts) and hands the addresses to the test
 * workers through process.env, which jest copies into every worker it forks after this function returns.
 * With KAFKA_BROKERS set, the tests run against those services and nothing is started.
 */
import { loadConfig } from '../../src/config/config';
import { createLogger } from '../../src/observability/log';
import { describeRegistryRuntime, fallbackNotice, registryPlan } from '../../src/stack/registry';
import { acquireStackLease } from '../../src/stack/stack';

/** Read by global-teardown.ts, which jest runs in this same process. */
export interface StackSetupState {
  leased: boolean;
}

declare global {
  var __klinestreamStackSetup: StackSetupState | undefined;
}

export default async function globalSetup(): Promise<void> {
  const state: StackSetupState = { leased: false };
  globalThis.__klinestreamStackSetup = state;
  if (process.env.KAFKA_BROKERS) {
    if (!process.env.SCHEMA_REGISTRY_URL) {
      throw new Error('integration tests: KAFKA_BROKERS is set but SCHEMA_REGISTRY_URL is not; set both, or neither to use the embedded local stack');
    }
    process.env.KLINESTREAM_TEST_STACK = 'external';
    process.env.KLINESTREAM_TEST_STACK_STARTED = '';
    return;
  }
  // Only the stack settings (cache dir, ports) matter here; connection settings are unset by construction.
  const config = loadConfig(process.env);
  const log = createLogger({ level: 'warn', bindings: { component: 'jest-global-setup' } });
  const started = Date.now();
  const registry = registryPlan(config);
  const notice = fallbackNotice(registry);
  if (notice !== undefined) process.stderr.write(`\nintegration tests: ${notice}\n`);
  const lease = await acquireStackLease(config, log, { registry });
  state.leased = true;
  process.env.KAFKA_BROKERS = lease.connection.brokers.join(',');
  process.env.SCHEMA_REGISTRY_URL = lease.connection.schemaRegistryUrl;
  process.env.KLINESTREAM_TEST_STACK = 'embedded';
  // Which services this run started: tests may only do disruptive things (kill -9) to those.
  process.env.KLINESTREAM_TEST_STACK_STARTED = lease.started.join(',');
  process.stderr.write(
    `\nintegration tests: local stack at ${process.env.KAFKA_BROKERS} and ${process.env.SCHEMA_REGISTRY_URL} ` +
      `(${describeRegistryRuntime(registry.version, registry.javaMajor)}) ` +
      `(${lease.started.length > 0 ? `started ${lease.started.join(' + ')}` : 'already running'}, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
  );
}
