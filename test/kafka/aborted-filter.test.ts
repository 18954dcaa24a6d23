import fc from 'fast-check';
import { filterAbortedMessages, type AbortedTransaction, type FetchedMessage } from '../../src/kafka/aborted-filter';

// kafkajs' own filter, as users install it (the jest mapping only replaces the relative request of batch.js).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const stockFilter = require('kafkajs/src/consumer/filterAbortedMessages') as typeof filterAbortedMessages;

const KEY0 = Buffer.alloc(4); // the trades key of symbol index 0
const ABORT = Buffer.from([0, 0, 0, 0]);
const COMMIT = Buffer.from([0, 0, 0, 1]);

interface Msg extends FetchedMessage {
  id: string;
}

function data(offset: number, producerId: string | null, key: Buffer | null, id: string): Msg {
  return { offset: String(offset), key, isControlRecord: false, id, batchContext: { producerId: producerId ?? '-1', inTransaction: producerId !== null } };
}

function marker(offset: number, producerId: string, commit: boolean): Msg {
  return { offset: String(offset), key: commit ? COMMIT : ABORT, isControlRecord: true, id: `${commit ? 'commit' : 'abort'}@${offset}`, batchContext: { producerId, inTransaction: true } };
}

/** A partition's log as the broker writes it: transactions of several producers, interleaved, some aborted. */
interface Log {
  messages: Msg[];
  aborted: Array<AbortedTransaction & { markerOffset: number }>;
  committedIds: string[];
}

type Step = { producer: number; kind: 'record'; keyZero: boolean } | { producer: number; kind: 'end'; commit: boolean } | { producer: -1; kind: 'plain'; keyZero: boolean };

function buildLog(steps: Step[]): Log {
  const messages: Msg[] = [];
  const aborted: Log['aborted'] = [];
  const committedIds: string[] = [];
  const open = new Map<number, { first: number; ids: string[] }>();
  for (const s of steps) {
    const offset = messages.length;
    if (s.kind === 'plain') {
      messages.push(data(offset, null, s.keyZero ? KEY0 : Buffer.from('k'), `plain@${offset}`));
      committedIds.push(`plain@${offset}`);
    } else if (s.kind === 'record') {
      let txn = open.get(s.producer);
      if (txn === undefined) open.set(s.producer, (txn = { first: offset, ids: [] }));
      const id = `p${s.producer}@${offset}`;
      txn.ids.push(id);
      messages.push(data(offset, String(s.producer), s.keyZero ? KEY0 : Buffer.from('k'), id));
    } else {
      const txn = open.get(s.producer);
      if (txn === undefined) continue;
      open.delete(s.producer);
      messages.push(marker(offset, String(s.producer), s.commit));
      if (s.commit) committedIds.push(...txn.ids);
      else aborted.push({ producerId: String(s.producer), firstOffset: String(txn.first), markerOffset: offset });
    }
  }
  // read_committed only returns what is decided: drop the records of transactions still open at the end.
  const undecided = new Set([...open.values()].flatMap((t) => t.ids));
  return { messages: messages.filter((m) => !undecided.has(m.id)), aborted, committedIds: committedIds.sort() };
}

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ producer: fc.integer({ min: 1, max: 3 }), kind: fc.constant('record' as const), keyZero: fc.boolean() }),
  fc.record({ producer: fc.integer({ min: 1, max: 3 }), kind: fc.constant('end' as const), commit: fc.boolean() }),
  fc.record({ producer: fc.constant(-1 as const), kind: fc.constant('plain' as const), keyZero: fc.boolean() }),
);

function dataIds(messages: Msg[]): string[] {
  return messages.filter((m) => m.isControlRecord !== true).map((m) => m.id).sort();
}

describe('read_committed filtering of a fetched partition', () => {
  it('kafkajs 2.2.4 delivers an aborted transaction that starts with a key-0 trade; ours does not', () => {
    const log = buildLog([
      { producer: 1, kind: 'record', keyZero: true },
      { producer: 1, kind: 'record', keyZero: false },
      { producer: 1, kind: 'end', commit: false },
      { producer: 1, kind: 'record', keyZero: true },
      { producer: 1, kind: 'end', commit: true },
    ]);
    const args = { messages: log.messages, abortedTransactions: log.aborted.map(({ producerId, firstOffset }) => ({ producerId, firstOffset })) };
    expect(dataIds(stockFilter(args))).toEqual(['p1@0', 'p1@1', 'p1@3']);
    expect(dataIds(filterAbortedMessages(args))).toEqual(['p1@3']);
    // Control records are passed through for kafkajs to drop (it uses them to advance the position).
    expect(filterAbortedMessages(args).filter((m) => m.isControlRecord).map((m) => m.id)).toEqual(['abort@2', 'commit@4']);
  });

  it('delivers exactly the committed and non-transactional records of any log', () => {
    fc.assert(fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
      const log = buildLog(steps);
      expect(dataIds(filterAbortedMessages({ messages: log.messages, abortedTransactions: log.aborted }))).toEqual(log.committedIds);
    }), { numRuns: 500 });
  });

  it('does so for a fetch that starts anywhere, with the broker listing the aborted transactions in any order', () => {
    fc.assert(fc.property(fc.array(step, { maxLength: 80 }), fc.nat(), fc.boolean(), (steps, startSeed, reverse) => {
      const log = buildLog(steps);
      const start = log.messages.length === 0 ? 0 : startSeed % log.messages.length;
      const messages = log.messages.filter((m) => Number(m.offset) >= start);
      // The broker lists the aborted transactions overlapping the fetch: those whose marker is at or after its start.
      const overlapping = log.aborted.filter((t) => t.markerOffset >= start).map(({ producerId, firstOffset }) => ({ producerId, firstOffset }));
      const listed = reverse ? [...overlapping].reverse() : overlapping;
      const expected = log.committedIds.filter((id) => Number(id.split('@')[1]) >= start);
      expect(dataIds(filterAbortedMessages({ messages, abortedTransactions: listed }))).toEqual(expected);
    }), { numRuns: 500 });
  });

  it('returns the messages untouched when nothing was aborted', () => {
    const messages = [data(0, '1', KEY0, 'a')];
    expect(filterAbortedMessages({ messages, abortedTransactions: [] })).toBe(messages);
  });
});
