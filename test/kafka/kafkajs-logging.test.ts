import * as fs from 'node:fs';
import { logLevel } from 'kafkajs';
import { classifyKafkajsEntry, kafkajsLogCreator, REBALANCE_ANSWERS, RETRIABLE_STARTUP_ANSWERS } from '../../src/kafka/kafkajs-logging';
import { createLogger } from '../../src/observability/log';

function capture(): { lines: Array<Record<string, unknown>>; log: ReturnType<typeof createLogger> } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, log: createLogger({ level: 'debug', sink: { write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) } }) };
}

describe('the kafkajs log adapter', () => {
  it('knows the retriable start-up answers by the exact text of the installed kafkajs', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const table = (require('kafkajs/src/protocol/error.js') as { errorCodes: Array<{ type: string; message: string; retriable: boolean }> }).errorCodes;
    const byType = new Map(table.map((e) => [e.type, e]));
    for (const type of ['GROUP_LOAD_IN_PROGRESS', 'GROUP_COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR_FOR_GROUP', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION']) {
      expect(byType.get(type)?.retriable).toBe(true);
      expect(RETRIABLE_STARTUP_ANSWERS).toContain(byType.get(type)!.message);
    }
  });

  it('knows the rebalance answers: every error type kafkajs rejoins the group after (its isRebalancing), by the exact text', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { errorCodes, createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
      errorCodes: Array<{ type: string; code: number; message: string }>;
      createErrorFromCode(code: number): Error & { type: string };
    };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { isRebalancing } = require('kafkajs/src/errors.js') as { isRebalancing(e: unknown): boolean };
    const rejoins = errorCodes.map((e) => createErrorFromCode(e.code)).filter((e) => isRebalancing(e));
    expect(rejoins.map((e) => e.type).sort()).toEqual(['ILLEGAL_GENERATION', 'NOT_COORDINATOR_FOR_GROUP', 'REBALANCE_IN_PROGRESS']);
    for (const e of rejoins) expect([...REBALANCE_ANSWERS, ...RETRIABLE_STARTUP_ANSWERS]).toContain(e.message);
    // And the runner does rejoin on them (the warning that stays: "The group is rebalancing, re-joining").
    const runner = fs.readFileSync(require.resolve('kafkajs/src/consumer/runner.js'), 'utf8');
    expect(runner).toMatch(/if \(isRebalancing\(e\)\) \{\s*this\.logger\.warn\('The group is rebalancing, re-joining'[\s\S]*?await this\.consumerGroup\.joinAndSync\(\)/);
  });

  it('logs the answers of a group rebalancing (a second worker joining) at debug, and a crash on them stays an error', () => {
    const { lines, log } = capture();
    const write = kafkajsLogCreator(log)(logLevel.DEBUG);
    // What the first minute of `npm run demo` printed: worker-2's heartbeats and its flush's commit while worker-1 joined.
    write({ namespace: 'Connection', level: logLevel.ERROR, label: 'ERROR', log: { message: 'Response Heartbeat(key: 12, version: 3)', timestamp: 'x', logger: 'kafkajs', broker: '127.0.0.1:28019', clientId: 'klinestream-worker', error: 'The group is rebalancing, so a rejoin is needed', correlationId: 9, size: 10 } });
    write({ namespace: 'Connection', level: logLevel.ERROR, label: 'ERROR', log: { message: 'Response OffsetCommit(key: 8, version: 5)', timestamp: 'x', logger: 'kafkajs', broker: '127.0.0.1:28019', clientId: 'klinestream-worker', error: 'Specified group generation id is not valid', correlationId: 19, size: 107 } });
    write({ namespace: 'Runner', level: logLevel.WARN, label: 'WARN', log: { message: 'The group is rebalancing, re-joining', timestamp: 'x', logger: 'kafkajs', groupId: 'g', error: 'The group is rebalancing, so a rejoin is needed' } });
    // kafkajs does not restart after these (not retriable), nor after retries that ran out: errors.
    write({ namespace: 'Consumer', level: logLevel.ERROR, label: 'ERROR', log: { message: 'Crash: KafkaJSProtocolError: The group is rebalancing, so a rejoin is needed', timestamp: 'x', logger: 'kafkajs', groupId: 'g', stack: 'trace' } });
    write({ namespace: 'Consumer', level: logLevel.ERROR, label: 'ERROR', log: { message: 'Crash: KafkaJSNumberOfRetriesExceeded: The group coordinator is not available', timestamp: 'x', logger: 'kafkajs', groupId: 'g', stack: 'trace' } });
    expect(lines.map((l) => l.level)).toEqual(['debug', 'debug', 'debug', 'error', 'error']);
  });

  it('logs a consumer crash that kafkajs restarts from (a retriable start-up answer) as a warning', () => {
    // What the demo's page consumer printed twice on a fresh stack in CI.
    expect(classifyKafkajsEntry('Consumer', logLevel.ERROR, "Crash: KafkaJSProtocolError: The coordinator is loading and hence can't process requests for this group", undefined).level).toBe('warn');
    expect(classifyKafkajsEntry('Consumer', logLevel.ERROR, 'Crash: KafkaJSProtocolError: The group coordinator is not available', undefined).level).toBe('warn');
    // Not restarted: retries ran out, or kafkajs does not retry the answer.
    expect(classifyKafkajsEntry('Consumer', logLevel.ERROR, "Crash: KafkaJSNumberOfRetriesExceeded: The coordinator is loading and hence can't process requests for this group", undefined).level).toBe('error');
    expect(classifyKafkajsEntry('Consumer', logLevel.ERROR, 'Crash: KafkaJSProtocolError: The group is rebalancing, so a rejoin is needed', undefined).level).toBe('error');
  });

  it('logs a retriable start-up answer at debug, not error (a fresh broker is not a problem)', () => {
    const { lines, log } = capture();
    const write = kafkajsLogCreator(log)(logLevel.DEBUG);
    write({ namespace: 'Connection', level: logLevel.ERROR, label: 'ERROR', log: { message: 'Response FindCoordinator(key: 10, version: 2)', timestamp: 'x', logger: 'kafkajs', error: "The coordinator is loading and hence can't process requests for this group", correlationId: 1, size: 30 } });
    write({ namespace: 'Connection', level: logLevel.ERROR, label: 'ERROR', log: { message: 'Response Metadata(key: 3, version: 6)', timestamp: 'x', logger: 'kafkajs', error: 'There is no leader for this topic-partition as we are in the middle of a leadership election' } });
    write({ namespace: 'Connection', level: logLevel.ERROR, label: 'ERROR', log: { message: 'Response JoinGroup(key: 11, version: 5)', timestamp: 'x', logger: 'kafkajs', error: 'The group coordinator is not available' } });
    expect(lines.map((l) => l.level)).toEqual(['debug', 'debug', 'debug']);
  });

  it('logs an unreachable broker as warnings without stack traces, and keeps real errors at error', () => {
    const { lines, log } = capture();
    const write = kafkajsLogCreator(log)(logLevel.DEBUG);
    write({ namespace: 'Connection', level: logLevel.ERROR, label: 'ERROR', log: { message: 'Connection error: connect ECONNREFUSED 127.0.0.1:1', timestamp: 'x', logger: 'kafkajs', broker: '127.0.0.1:1', stack: 'Error: connect ECONNREFUSED\n    at TCPConnectWrap' } });
    write({ namespace: 'BrokerPool', level: logLevel.ERROR, label: 'ERROR', log: { message: 'Failed to connect to seed broker, trying another broker from the list: Connection error: connect ECONNREFUSED 127.0.0.1:1', timestamp: 'x', logger: 'kafkajs', retryCount: 0 } });
    write({ namespace: 'Consumer', level: logLevel.ERROR, label: 'ERROR', log: { message: 'Crash: KafkaJSNumberOfRetriesExceeded: boom', timestamp: 'x', logger: 'kafkajs', stack: 'trace' } });
    expect(lines.map((l) => [l.level, 'stack' in l])).toEqual([['debug', false], ['warn', false], ['error', true]]);
  });

  it('classifies SASL login failures as warnings (the command ends with the sentence)', () => {
    expect(classifyKafkajsEntry('SASLAuthenticator', logLevel.ERROR, 'SASL SCRAM SHA512 authentication failed: invalid credentials', undefined).level).toBe('warn');
    expect(classifyKafkajsEntry('Connection', logLevel.ERROR, 'Response SaslAuthenticate(key: 36, version: 1)', 'Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512').level).toBe('warn');
  });
});
