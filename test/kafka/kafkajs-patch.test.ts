import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import fc from 'fast-check';
import { groupMessagesPerPartitionLinear } from '../../src/kafka/kafkajs-patch';

/** kafkajs 2.2.4's own grouping, as it is written there (the reference). */
function quadratic({ topic, partitionMetadata, messages, partitioner }: Parameters<typeof groupMessagesPerPartitionLinear>[0]): Record<number, unknown[]> {
  if (partitionMetadata.length === 0) return {};
  return messages.reduce<Record<number, unknown[]>>((result, message) => {
    const partition = partitioner({ topic, partitionMetadata, message });
    const current = result[partition] ?? [];
    return Object.assign(result, { [partition]: [...current, message] });
  }, {});
}

describe('the kafkajs patches', () => {
  it('the linear grouping groups exactly as kafkajs does: same partitions, same messages, same order', () => {
    fc.assert(fc.property(fc.array(fc.record({ partition: fc.integer({ min: 0, max: 11 }), id: fc.nat() })), fc.integer({ min: 0, max: 12 }), (messages, partitions) => {
      const args = { topic: 't', partitionMetadata: Array.from({ length: partitions }, (_, i) => ({ partitionId: i })), messages, partitioner: ({ message }: { message: unknown }) => (message as { partition: number }).partition };
      expect(groupMessagesPerPartitionLinear(args)).toEqual(quadratic(args));
    }));
  });

  it('are what the CLI\'s and the library\'s kafkajs use (installed before kafkajs loads)', () => {
    const root = path.resolve(__dirname, '../..');
    const script = `
      require(${JSON.stringify(path.join(root, 'dist/src/kafka/kafkajs-patch.js'))});
      require('kafkajs');
      const p = require(${JSON.stringify(path.join(root, 'dist/src/kafka/kafkajs-patch.js'))});
      const exported = (m) => require.cache[require.resolve('kafkajs/src/' + m + '.js')].exports.name;
      process.stdout.write([p.kafkajsPatched(), exported('producer/groupMessagesPerPartition'), exported('consumer/filterAbortedMessages'), exported('producer/sendMessages')].join(' '));`;
    expect(execFileSync(process.execPath, ['-e', script], { cwd: root }).toString()).toBe('true groupMessagesPerPartitionLinear filterAbortedMessages createSendMessages');
    // The CLI entry point imports it before anything else, so every command's producer has it...
    const patch = JSON.stringify(path.join(root, 'dist/src/kafka/kafkajs-patch.js'));
    const viaMain = `require(${JSON.stringify(path.join(root, 'dist/src/cli/main.js'))}); process.stdout.write(String(require(${patch}).kafkajsPatched()));`;
    expect(execFileSync(process.execPath, ['-e', viaMain], { cwd: root }).toString()).toBe('true');
    // ...and so does the library entry point (a downstream service's KlineConsumer).
    const viaLibrary = `require(${JSON.stringify(path.join(root, 'dist/src/index.js'))}); require('kafkajs'); process.stdout.write(String(require(${patch}).kafkajsPatched()));`;
    expect(execFileSync(process.execPath, ['-e', viaLibrary], { cwd: root }).toString()).toBe('true');
    // ...and the check is real: loaded after kafkajs, the patch cannot apply and says so.
    const late = `require(${JSON.stringify(path.join(root, 'dist/src/cli/commands.js'))}); process.stdout.write(String(require(${patch}).kafkajsPatched()));`;
    expect(execFileSync(process.execPath, ['-e', late], { cwd: root }).toString()).toBe('false');
  });
});
