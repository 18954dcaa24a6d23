/**
 * Who owns a `trades` partition in this process, and since when. Everything a worker knows about a partition
 * lives in one PartitionOwnership: its readiness, applied and committed offsets, lag, pending dead letters
 * and (exactly-once) its transactional producer and open transaction. Each ownership has an epoch, unique in
 * the process; a new assignment, a revocation and a rewind each end the current ownership and (except
 * revocation) start a new one. The rules, which every step of consumption and flushing follows:
 *
 *   1. Work captures the ownership it starts under (`owner = ownerships.current(p)`) and, after every
 *      `await`, checks `owner.current`. If it is false, that partition's part of the work stops: nothing
 *      of it is applied, published, written to kline-state or committed.
 *   2. Ending an ownership is synchronous (revoke, rewind): from that instant `current` is false and the
 *      partition is not READY, whatever is in flight.
 *   3. The aggregator's symbol group p belongs to the ownership that populated it (`groupOwner`). Clean-up
 *      of an ended ownership's group (dropGroup) is deferred to a point where no batch is checked out; a
 *      restore always drops the group first, so a partition assigned back never keeps stale state.
 *   4. A new ownership starts RESTORING; only its restore makes it READY. A failed restore leaves it
 *      RESTORING and is tried again by the next batch of the partition.
 *   5. A rewind (exactly-once, failed transaction) is one synchronous step: end the ownership and start a
 *      RESTORING one in its place, whose restore seeks to the committed offset. No await comes between.
 */
import type { Producer, Transaction } from 'kafkajs';
import type { DlqRecord } from './flush';

export const RESTORING = 0;
export const READY = 1;
export const ENDED = 2;
export type OwnershipStatus = typeof RESTORING | typeof READY | typeof ENDED;

export class PartitionOwnership {
  status: OwnershipStatus = RESTORING;
  /** Next offset to consume that every applied record is below (what a commit would say); -1: none yet. */
  applied = -1;
  /** Last offset committed by this ownership (or read at restore); -1: unknown. */
  committed = -1;
  lag = 0;
  /** Dead letters of this ownership's records, published before the commit that passes them. */
  readonly pendingDlq: DlqRecord[] = [];
  /** Exactly-once: this ownership's transactional producer, and its open transaction across flush rounds. */
  producer: Producer | undefined;
  txn: Transaction | undefined;
  /** A restore in progress (one at a time). */
  restoring: Promise<void> | undefined;
  /** First offset this ownership chain consumed (kept across rewinds): where a never-committed partition re-reads from. */
  firstSeen = -1;
  constructor(readonly partition: number, readonly epoch: number, readonly reason: 'assigned' | 'rewound') {}

  get current(): boolean {
    return this.status !== ENDED;
  }

  get ready(): boolean {
    return this.status === READY;
  }
}

export class Ownerships {
  private readonly byPartition = new Map<number, PartitionOwnership>();
  /** Which ownership populated aggregator group p (rule 3): -1 or absent means none. */
  private readonly groupEpoch = new Map<number, number>();
  private nextEpoch = 1;
  /** Ended ownerships whose state is still to be cleaned up (producers closed, group dropped). */
  readonly ended: PartitionOwnership[] = [];

  current(p: number): PartitionOwnership | undefined {
    return this.byPartition.get(p);
  }

  get size(): number {
    return this.byPartition.size;
  }

  partitions(): number[] {
    return [...this.byPartition.keys()].sort((a, b) => a - b);
  }

  all(): IterableIterator<PartitionOwnership> {
    return this.byPartition.values();
  }

  /** Rule 2 and 4: a new assignment of p ends any ownership of p left over and starts a new one. */
  assign(p: number): PartitionOwnership {
    const old = this.byPartition.get(p);
    if (old !== undefined) this.end(old);
    const o = new PartitionOwnership(p, this.nextEpoch++, 'assigned');
    this.byPartition.set(p, o);
    return o;
  }

  /** Rule 2: revocation takes effect at once. */
  revoke(p: number): PartitionOwnership | undefined {
    const old = this.byPartition.get(p);
    if (old === undefined) return undefined;
    this.byPartition.delete(p);
    this.end(old);
    return old;
  }

  /** Rule 5: end `o` and start a RESTORING successor in one synchronous step. Undefined if `o` is no longer current. */
  rewind(o: PartitionOwnership): PartitionOwnership | undefined {
    if (this.byPartition.get(o.partition) !== o) return undefined;
    this.end(o);
    const next = new PartitionOwnership(o.partition, this.nextEpoch++, 'rewound');
    next.committed = o.committed;
    next.firstSeen = o.firstSeen;
    this.byPartition.set(o.partition, next);
    return next;
  }

  /** Rule 3: the restore of `o` populates group p from now on. */
  claimGroup(o: PartitionOwnership): void {
    this.groupEpoch.set(o.partition, o.epoch);
  }

  /** True when group p's symbols were put there by the current, READY ownership of p. */
  groupIsCurrent(p: number): boolean {
    const o = this.byPartition.get(p);
    return o !== undefined && o.status === READY && this.groupEpoch.get(p) === o.epoch;
  }

  /** Rule 3: groups whose populating ownership has ended (drop them when nothing is checked out). */
  staleGroups(): number[] {
    const out: number[] = [];
    for (const [p, epoch] of this.groupEpoch) {
      const o = this.byPartition.get(p);
      if (o === undefined || o.epoch !== epoch) out.push(p);
    }
    return out;
  }

  groupDropped(p: number): void {
    this.groupEpoch.delete(p);
  }

  private end(o: PartitionOwnership): void {
    if (o.status === ENDED) return;
    o.status = ENDED;
    this.ended.push(o);
  }
}
