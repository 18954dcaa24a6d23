/**
 * A linear `groupMessagesPerPartition` for kafkajs 2.2.4.
 *
 * Why: kafkajs groups the messages of every send by partition with
 * `Object.assign(result, { [partition]: [...current, message] })`, which copies the partition's array for
 * each message: quadratic in the batch size. At the producer's 10,000 records per transaction that copying
 * and the garbage it leaves were about half of the process's CPU (profile of `npm run bench`, produce). The
 * upstream fix (a push instead of a copy) is proposed but not released.
 *
 * How: the replacement is put into Node's module cache under the path of kafkajs' own module before kafkajs
 * loads it, so `sendMessages.js` picks it up. Same contract: `{}` without partition metadata, else an
 * object from partition number to that partition's messages in their original order. Import this module
 * before anything that loads 'kafkajs' (the CLI entry point does, first). If kafkajs was loaded already, the
 * patch cannot apply and says so through `kafkajsPatched()`; nothing breaks, it is only slower.
 */
import Module from 'node:module';

interface GroupArgs {
  topic: string;
  partitionMetadata: unknown[];
  messages: unknown[];
  partitioner: (args: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;
}

export function groupMessagesPerPartitionLinear({ topic, partitionMetadata, messages, partitioner }: GroupArgs): Record<number, unknown[]> {
  const result: Record<number, unknown[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    const list = result[partition];
    if (list === undefined) result[partition] = [message];
    else list.push(message);
  }
  return result;
}

const GROUP_MODULE = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
const SEND_MODULE = require.resolve('kafkajs/src/producer/sendMessages.js');

function install(): boolean {
  if (require.cache[SEND_MODULE] !== undefined) return require.cache[GROUP_MODULE]?.exports === groupMessagesPerPartitionLinear;
  const m = new Module(GROUP_MODULE, module);
  m.filename = GROUP_MODULE;
  m.loaded = true;
  m.exports = groupMessagesPerPartitionLinear;
  require.cache[GROUP_MODULE] = m;
  return true;
}

const installed = install();

/** True when kafkajs' producer uses the linear grouping (this module was loaded before kafkajs). */
export function kafkajsPatched(): boolean {
  return installed && require.cache[GROUP_MODULE]?.exports === groupMessagesPerPartitionLinear;
}
