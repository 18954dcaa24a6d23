/**
 * read_committed filtering of a fetched partition, as kafkajs 2.2.4 should do it (installed in its place by
 * ./kafkajs-patch.ts).
 *
 * Why: kafkajs tells an abort marker by its key alone (`00 00 00 00`, control-record version 0, type ABORT)
 * and never looks at whether the record is a control record. The `trades` key is the big-endian int32
 * symbol index, so every trade of symbol index 0 has that very key: the first such trade inside an aborted
 * transaction ends that transaction in kafkajs' eyes, and it and the rest of the transaction (other
 * symbols' trades, watermarks) are delivered as if committed. A producer killed with a transaction open, or
 * fenced by a takeover, thus leaked records that Kafka had aborted: consumers saw trades twice and
 * watermarks that the producer never committed. kafkajs also activates at most one aborted transaction per
 * message, and assumes the broker lists them by first offset.
 *
 * The rule (the Java consumer's): a record of a transactional batch is dropped when its producer id has an
 * aborted transaction that began at or before it and whose ABORT control record has not been passed yet.
 * Commit markers and data records never end one. Control records are returned (kafkajs drops them next).
 */

export interface AbortedTransaction {
  producerId: string;
  firstOffset: string;
}

export interface FetchedMessage {
  offset: string;
  key: Buffer | null;
  isControlRecord?: boolean;
  batchContext: { producerId: string; inTransaction: boolean };
}

/** A control record's key: int16 version, int16 type (0 = ABORT, 1 = COMMIT). */
function isAbortMarker(m: FetchedMessage): boolean {
  const key = m.key;
  return m.isControlRecord === true && key !== null && key.length >= 4 && key.readInt16BE(2) === 0;
}

export function filterAbortedMessages<M extends FetchedMessage>({ messages, abortedTransactions }: { messages: M[]; abortedTransactions?: AbortedTransaction[] }): M[] {
  if (abortedTransactions === undefined || abortedTransactions.length === 0) return messages;
  // Offsets stay below 2^53 for the life of any real partition, so plain numbers compare them exactly.
  const pending = abortedTransactions
    .map((t) => ({ producerId: t.producerId, firstOffset: Number(t.firstOffset) }))
    .sort((a, b) => a.firstOffset - b.firstOffset);
  const open = new Set<string>();
  let next = 0;
  return messages.filter((m) => {
    const offset = Number(m.offset);
    while (next < pending.length && pending[next]!.firstOffset <= offset) open.add(pending[next++]!.producerId);
    const { producerId, inTransaction } = m.batchContext;
    if (m.isControlRecord === true) {
      if (isAbortMarker(m)) open.delete(producerId);
      return true;
    }
    return !(inTransaction && open.has(producerId));
  });
}
