/**
 * The kafkajs fixes (src/kafka/kafkajs-patch.ts) as the built CLI and library get them, each in a fresh
 * node process: in force whatever was loaded first (an application's own `require('kafkajs')` included),
 * and a refusal with a sentence when one cannot apply or kafkajs is another release.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { groupMessagesPerPartitionLinear } from '../../src/kafka/kafkajs-patch';

const root = path.resolve(__dirname, '../..');
const dist = (p: string) => JSON.stringify(path.join(root, 'dist/src', p));

/** kafkajs 2.2.4's own grouping, as it is written there (the reference). */
function quadratic({ topic, partitionMetadata, messages, partitioner }: Parameters<typeof groupMessagesPerPartitionLinear>[0]): Record<number, unknown[]> {
  if (partitionMetadata.length === 0) return {};
  return messages.reduce<Record<number, unknown[]>>((result, message) => {
    const partition = partitioner({ topic, partitionMetadata, message });
    const current = result[partition] ?? [];
    return Object.assign(result, { [partition]: [...current, message] });
  }, {});
}

/** Runs `script` in a fresh node and returns its stdout (it throws when the script fails). */
function node(script: string): string {
  return execFileSync(process.execPath, ['-e', script], { cwd: root }).toString();
}

/**
 * A script fragment printing, for the kafkajs that `require('kafkajs')` now gives, which filter its
 * consumer's Batch module bound and which sendMessages its producer's messageProducer bound (Node records
 * each module a module required in its `children`), which grouping a send finds in the module cache, and
 * whether klinestream's clients are of that kafkajs.
 */
const REPORT = `
  const bound = (user, dep) => {
    const u = require.cache[require.resolve('kafkajs/src/' + user + '.js')];
    const d = require.cache[require.resolve('kafkajs/src/' + dep + '.js')];
    return u !== undefined && d !== undefined && u.children.includes(d) ? d.exports.name : 'none';
  };
  const client = require(${dist('kafka/kafkajs-logging.js')}).createKafka({ brokers: ['127.0.0.1:1'], log: { child: () => ({}) } });
  process.stdout.write(JSON.stringify({
    filter: bound('consumer/batch', 'consumer/filterAbortedMessages'),
    send: bound('producer/messageProducer', 'producer/sendMessages'),
    // klinestream's sendMessages takes the grouping from the module cache at each send.
    grouping: require.cache[require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js')]?.exports.name ?? 'none',
    clientOfThisKafkajs: client instanceof require('kafkajs').Kafka,
    problem: require(${dist('kafka/kafkajs-check.js')}).kafkajsProblem('all') ?? null,
  }));`;

const IN_FORCE = { filter: 'filterAbortedMessages', send: 'createSendMessages', grouping: 'groupMessagesPerPartitionLinear', clientOfThisKafkajs: true, problem: null };

describe('the kafkajs patches', () => {
  it('the linear grouping groups exactly as kafkajs does: same partitions, same messages, same order', () => {
    fc.assert(fc.property(fc.array(fc.record({ partition: fc.integer({ min: 0, max: 11 }), id: fc.nat() })), fc.integer({ min: 0, max: 12 }), (messages, partitions) => {
      const args = { topic: 't', partitionMetadata: Array.from({ length: partitions }, (_, i) => ({ partitionId: i })), messages, partitioner: ({ message }: { message: unknown }) => (message as { partition: number }).partition };
      expect(groupMessagesPerPartitionLinear(args)).toEqual(quadratic(args));
    }));
  });

  describe.each([
    ['the CLI entry point', 'cli/main.js'],
    ['the library entry point', 'index.js'],
  ])('%s', (_name, entry) => {
    it('both fixes are in force when it is loaded first', () => {
      expect(JSON.parse(node(`require(${dist(entry)}); ${REPORT}`))).toEqual(IN_FORCE);
    });

    it('the read_committed filter is in force after the application loaded kafkajs first', () => {
      const report = JSON.parse(node(`const stock = require('kafkajs'); require(${dist(entry)}); ${REPORT}`)) as typeof IN_FORCE;
      expect(report.filter).toBe('filterAbortedMessages');
      expect(report.clientOfThisKafkajs).toBe(true);
      expect(report.problem).toBeNull();
    });

    it('the sendMessages replacement and the linear grouping are in force after the application loaded kafkajs first', () => {
      const report = JSON.parse(node(`require('kafkajs'); require('kafkajs/src/producer/sendMessages.js'); require(${dist(entry)}); ${REPORT}`)) as typeof IN_FORCE;
      expect(report.send).toBe('createSendMessages');
      expect(report.grouping).toBe('groupMessagesPerPartitionLinear');
    });
  });

  it('the application\'s own kafkajs, loaded first, keeps working (stock), beside klinestream\'s', () => {
    const out = node(`const stock = require('kafkajs'); require(${dist('index.js')}); process.stdout.write(String(stock.Kafka !== require('kafkajs').Kafka && typeof new stock.Kafka({ brokers: ['x:1'] }).admin === 'function'));`);
    expect(out).toBe('true');
  });

  describe('refusals', () => {
    let dir: string;
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kafkajs-patch-'));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** A preload whose module cache entry for `modulePath` always answers kafkajs' own module (as a bundler's would). */
    function defeat(modulePath: string): string {
      const file = path.join(dir, `defeat-${path.basename(modulePath)}`);
      fs.writeFileSync(file, `
        const p = require.resolve(${JSON.stringify(modulePath)}, { paths: [${JSON.stringify(root)}] });
        require(p);
        const stock = require.cache[p];
        Object.defineProperty(require.cache, p, { get: () => stock, set: () => {}, enumerable: true, configurable: false });`);
      return file;
    }

    function cli(preload: string): { code: number | null; stderr: string } {
      const r = spawnSync(process.execPath, ['-r', preload, path.join(root, 'dist/src/cli/main.js'), 'work'], { cwd: root, encoding: 'utf8', timeout: 30_000, env: { ...process.env, KAFKA_BROKERS: '127.0.0.1:1', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1' } });
      return { code: r.status, stderr: r.stderr };
    }

    it('the CLI refuses to start when the read_committed filter is not in force, saying why', () => {
      const r = cli(defeat('kafkajs/src/consumer/filterAbortedMessages.js'));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^klinestream: refusing to start: kafkajs' read_committed filter is not klinestream's fix \(src\/kafka\/aborted-filter.ts\), so records of aborted transactions would be delivered; .*\n$/);
    });

    it('the CLI refuses to start when the linear grouping is not in force, saying why', () => {
      const r = cli(defeat('kafkajs/src/producer/groupMessagesPerPartition.js'));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^klinestream: refusing to start: kafkajs' producer does not use klinestream's sendMessages and linear message grouping .*\n$/);
    });

    it('the CLI refuses to start when the sendMessages replacement is not in force, saying why', () => {
      const r = cli(defeat('kafkajs/src/producer/sendMessages.js'));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^klinestream: refusing to start: kafkajs' producer does not use klinestream's sendMessages and linear message grouping .*\n$/);
    });

    it('the CLI refuses to start on another kafkajs release, naming both versions', () => {
      const preload = path.join(dir, 'other-version.js');
      fs.writeFileSync(preload, `
        const Module = require('node:module');
        const p = require.resolve('kafkajs/package.json', { paths: [${JSON.stringify(root)}] });
        const m = new Module(p, module); m.filename = p; m.loaded = true; m.exports = { name: 'kafkajs', version: '2.3.0' };
        require.cache[p] = m;`);
      const r = cli(preload);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe('klinestream: refusing to start: kafkajs 2.3.0 is installed, but klinestream\'s fixes of kafkajs (src/kafka/kafkajs-patch.ts) are written for 2.2.4 and may not apply to another release; install kafkajs 2.2.4\n');
    });

    it('the library\'s KlineConsumer refuses to start (before connecting) when the filter is not in force', () => {
      const out = execFileSync(process.execPath, ['-r', defeat('kafkajs/src/consumer/filterAbortedMessages.js'), '-e', `
        const { KlineConsumer } = require(${dist('index.js')});
        new KlineConsumer({ brokers: ['127.0.0.1:1'], schemaRegistryUrl: 'http://127.0.0.1:1' }).readToEnd(() => {})
          .then(() => process.stdout.write('started'), (e) => process.stdout.write(e.code + ': ' + e.message));`], { cwd: root }).toString();
      expect(out).toMatch(/^KAFKAJS_UNPATCHED: refusing to start: kafkajs' read_committed filter is not klinestream's fix/);
    });
  });
});
