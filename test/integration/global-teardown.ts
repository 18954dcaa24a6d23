/**
 * Jest global teardown for the integration project: gives up this run's lease on the local stack. The
 * stack is stopped only if a test run started it and no other run still uses it, so a stack a developer
 * started by hand (or another concurrent test run) survives.
 */
import { loadConfig } from '../../src/config/config';
import { createLogger } from '../../src/observability/log';
import { releaseStackLease } from '../../src/stack/stack';

export default async function globalTeardown(): Promise<void> {
  const state = globalThis.__klinestreamStackSetup;
  if (!state?.leased) return;
  state.leased = false;
  const config = loadConfig({ ...process.env, KAFKA_BROKERS: undefined, SCHEMA_REGISTRY_URL: undefined });
  const log = createLogger({ level: 'warn', bindings: { component: 'jest-global-teardown' } });
  const stopped = await releaseStackLease(config, log);
  if (stopped.length > 0) process.stderr.write(`integration tests: stopped the local stack (${stopped.join(' + ')})\n`);
}
