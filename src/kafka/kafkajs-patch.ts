/**
 * Three replacements for kafkajs 2.2.4 modules, put into Node's module cache under the paths of kafkajs' own
 * modules before kafkajs loads them, so that the modules requiring them pick ours up:
 *
 * 1. `consumer/filterAbortedMessages` (correctness): kafkajs' read_committed filter takes any record whose
 *    key is `00 00 00 00` for an abort marker, and the `trades` key of symbol index 0 is exactly that, so
 *    aborted transactions leaked into every reader of `trades`. See ./aborted-filter.ts.
 * 2. `producer/groupMessagesPerPartition` (speed): kafkajs groups the messages of every send by partition
 *    with `Object.assign(result, { [partition]: [...current, message] })`, which copies the partition's
 *    array for each message: quadratic in the batch size. At the producer's 10,000 records per transaction
 *    that copying and its garbage were about half of the process's CPU (profile of `npm run bench`,
 *    produce). The upstream fix (a push instead of a copy) is proposed but not released. Same contract: `{}`
 *    without partition metadata, else partition number -> that partition's messages in their order.
 * 3. `producer/sendMessages` (correctness): when a partition leader fails over during a send, kafkajs'
 *    retry writes records of the other leaders a second time and never resends a partition that moved to
 *    a broker that had answered (records doubled and lost in committed transactions). See ./send-messages.ts.
 *
 * Import this module before anything that loads 'kafkajs': the CLI entry point and the library entry point
 * do, first. If kafkajs was loaded already, the patches cannot apply and `kafkajsPatched()` says so.
 */
import Module from 'node:module';
import { filterAbortedMessages } from './aborted-filter';
import { createSendMessages } from './send-messages';

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
const FILTER_MODULE = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js');
const BATCH_MODULE = require.resolve('kafkajs/src/consumer/batch.js');
const MESSAGE_PRODUCER_MODULE = require.resolve('kafkajs/src/producer/messageProducer.js');

/** Puts `exports` into the cache as module `path`, unless `user` (the module requiring it) already loaded. */
function install(path: string, user: string, exports: unknown): boolean {
  if (require.cache[user] !== undefined) return require.cache[path]?.exports === exports;
  const m = new Module(path, module);
  m.filename = path;
  m.loaded = true;
  m.exports = exports;
  require.cache[path] = m;
  return true;
}

// Each attempted: one that cannot apply (its user loaded already) must not keep the others out. The
// grouping first: its user is kafkajs' sendMessages, whose place in the cache the third one then takes.
const filterInstalled = install(FILTER_MODULE, BATCH_MODULE, filterAbortedMessages);
const groupInstalled = install(GROUP_MODULE, SEND_MODULE, groupMessagesPerPartitionLinear);
const sendInstalled = install(SEND_MODULE, MESSAGE_PRODUCER_MODULE, createSendMessages);
const installed = filterInstalled && groupInstalled && sendInstalled;

/** True when kafkajs uses all three replacements (this module was loaded before kafkajs). */
export function kafkajsPatched(): boolean {
  return installed
    && require.cache[GROUP_MODULE]?.exports === groupMessagesPerPartitionLinear
    && require.cache[FILTER_MODULE]?.exports === filterAbortedMessages
    && require.cache[SEND_MODULE]?.exports === createSendMessages;
}
