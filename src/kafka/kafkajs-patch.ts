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
 * do, first. If kafkajs was loaded already (by the application, before klinestream), its loaded copy is
 * dropped from the module cache so that klinestream's own loads a fresh one with the replacements.
 * `kafkajsPatchProblem()` tells whether they are in force and the release is the expected one; the CLI and
 * KlineConsumer refuse to start otherwise (src/kafka/kafkajs-check.ts).
 */
import Module from 'node:module';
import * as path from 'node:path';
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

/** The kafkajs release these replacements were written for (and checked against, line by line). */
export const KAFKAJS_VERSION = '2.2.4';

const KAFKAJS_DIR = path.dirname(require.resolve('kafkajs/package.json'));
const GROUP_MODULE = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
const SEND_MODULE = require.resolve('kafkajs/src/producer/sendMessages.js');
const FILTER_MODULE = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js');
const BATCH_MODULE = require.resolve('kafkajs/src/consumer/batch.js');
const MESSAGE_PRODUCER_MODULE = require.resolve('kafkajs/src/producer/messageProducer.js');

/** Puts `exports` into the cache as module `path` (Node's loader hands it to whoever requires that path). */
function plant(path: string, exports: unknown): void {
  const m = new Module(path, module);
  m.filename = path;
  m.loaded = true;
  m.exports = exports;
  require.cache[path] = m;
}

/**
 * Where kafkajs was loaded before this module (a library user's `require('kafkajs')` before
 * `require('klinestream')`), its modules have bound the stock functions already. They are dropped from
 * the module cache, so that the next `require('kafkajs')` (klinestream's own, right after this module)
 * loads a fresh copy that takes the replacements; what the user loaded keeps working as it did.
 */
function dropLoadedKafkajs(): void {
  for (const key of Object.keys(require.cache)) {
    // Reflect: an entry that cannot be removed (a frozen cache) stays; the check then reports the fix not in force.
    if (key.startsWith(KAFKAJS_DIR + path.sep)) Reflect.deleteProperty(require.cache, key);
  }
}

if ([BATCH_MODULE, SEND_MODULE, MESSAGE_PRODUCER_MODULE].some((m) => require.cache[m] !== undefined)) dropLoadedKafkajs();
plant(FILTER_MODULE, filterAbortedMessages);
plant(GROUP_MODULE, groupMessagesPerPartitionLinear);
plant(SEND_MODULE, createSendMessages);

/**
 * Whether the module `user` got `expected` when it required `path`: its module is in the cache and
 * recorded as a child of `user` (Node records every module a module required, also from the cache).
 */
function usedBy(user: string, path: string, expected: unknown): 'yes' | 'not loaded' | 'no' {
  const userModule = require.cache[user];
  if (userModule === undefined) return 'not loaded';
  const planted = require.cache[path];
  return planted !== undefined && planted.exports === expected && userModule.children.includes(planted) ? 'yes' : 'no';
}

/**
 * Whether kafkajs' read_committed filter is ours, told by what it does: a committed transactional
 * record keyed `00 00 00 00` followed by a record of an aborted transaction of the same producer. The stock
 * filter takes the first for an abort marker and delivers both; ours delivers neither.
 */
function filterInForce(): boolean {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Batch = require(BATCH_MODULE) as new (topic: string, fetchedOffset: string, data: unknown) => { messages: unknown[] };
  const context = { producerId: '7', inTransaction: true, isControlBatch: false };
  const batch = new Batch('probe', '0', {
    partition: 0,
    highWatermark: '2',
    abortedTransactions: [{ producerId: '7', firstOffset: '0' }],
    messages: [
      { offset: '0', key: Buffer.from([0, 0, 0, 0]), value: null, isControlRecord: false, batchContext: context },
      { offset: '1', key: Buffer.from('k'), value: null, isControlRecord: false, batchContext: context },
    ],
  });
  return batch.messages.length === 0;
}

/**
 * Why kafkajs cannot be used as klinestream needs it, or undefined when it can: the installed release is
 * the one the replacements were written for, and they are in force (`consumer`: the read_committed filter
 * only, what the library's KlineConsumer reads with; `all`: also the producer's grouping, for the CLI).
 */
export function kafkajsPatchProblem(scope: 'consumer' | 'all'): string | undefined {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const version = (require('kafkajs/package.json') as { version?: string }).version;
  if (version !== KAFKAJS_VERSION) {
    return `kafkajs ${version ?? '(unknown version)'} is installed, but klinestream's fixes of kafkajs (src/kafka/kafkajs-patch.ts) are written for ${KAFKAJS_VERSION} and may not apply to another release; install kafkajs ${KAFKAJS_VERSION}`;
  }
  if (!filterInForce()) {
    return 'kafkajs\' read_committed filter is not klinestream\'s fix (src/kafka/aborted-filter.ts), so records of aborted transactions would be delivered; something loaded kafkajs in a way the fix cannot reach (a bundler, or a module cache other than Node\'s)';
  }
  if (scope === 'all' && (usedBy(MESSAGE_PRODUCER_MODULE, SEND_MODULE, createSendMessages) === 'no' || require.cache[GROUP_MODULE]?.exports !== groupMessagesPerPartitionLinear)) {
    return 'kafkajs\' producer does not use klinestream\'s sendMessages and linear message grouping (src/kafka/kafkajs-patch.ts, send-messages.ts); something loaded kafkajs in a way the fixes cannot reach (a bundler, or a module cache other than Node\'s)';
  }
  return undefined;
}

/** True when kafkajs is the expected release with both replacements in force. */
export function kafkajsPatched(): boolean {
  return kafkajsPatchProblem('all') === undefined;
}
