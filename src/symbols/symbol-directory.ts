/**
 * What the compacted `symbols` topic says, in memory: symbol name <-> global index, and each symbol's
 * placement (its `trades` / `kline-state` partition and placement epoch). The producer is the only writer:
 * it assigns the next index to a new symbol (indexes are never reused) and places it on the partition with
 * the fewest symbols; workers only read. Pure: the Kafka side is symbols-topic.ts.
 */
import type { SymbolEntry } from '../codec/records';
import { symbolEntry } from '../codec/records';
import { KlinestreamError } from '../errors';
import { SymbolTable } from './symbol-table';

export class SymbolDirectory {
  readonly table: SymbolTable;
  private readonly entries: Array<SymbolEntry | undefined> = [];
  /** Symbols per partition (placement counts), for spreading new symbols and for `topics describe`. */
  private counts: number[] = [];
  /** Index -> partition, as a typed array for the per-trade lookup. */
  private placement = new Int32Array(1024).fill(-1);
  private nextIndex = 0;
  /** Entries that disagree with what is known (logged by the caller, never applied). */
  readonly conflicts: string[] = [];

  constructor(maxSymbols = 65536) {
    this.table = new SymbolTable(maxSymbols);
  }

  get size(): number {
    return this.table.size;
  }

  indexOf(name: string): number | undefined {
    return this.table.has(name) ? this.table.indexOf(name) : undefined;
  }

  nameOf(index: number): string | undefined {
    return this.table.nameOf(index);
  }

  entry(index: number): SymbolEntry | undefined {
    return this.entries[index];
  }

  /** The trades partition of a symbol index; -1 when unknown. Per-trade path: one typed-array read. */
  partitionOf(index: number): number {
    return index < this.placement.length ? this.placement[index]! : -1;
  }

  placementCounts(partitions: number): number[] {
    const out = new Array<number>(partitions).fill(0);
    for (let p = 0; p < Math.min(partitions, this.counts.length); p++) out[p] = this.counts[p]!;
    return out;
  }

  all(): SymbolEntry[] {
    return this.entries.filter((e): e is SymbolEntry => e !== undefined);
  }

  /**
   * Applies an entry read from the topic (or just written). A later entry of the same symbol replaces the
   * earlier one (placement changes); an entry that gives a known index to another name is a conflict: kept
   * out and reported. Returns whether it was applied.
   */
  apply(e: SymbolEntry): boolean {
    const known = this.table.has(e.symbol) ? this.table.indexOf(e.symbol) : undefined;
    if (known !== undefined && known !== e.index) {
      this.conflicts.push(`${e.symbol} is index ${known}, an entry says ${e.index}`);
      return false;
    }
    const holder = this.table.nameOf(e.index);
    if (holder !== undefined && holder !== e.symbol) {
      this.conflicts.push(`index ${e.index} is ${holder}, an entry says ${e.symbol}`);
      return false;
    }
    if (!(Number.isInteger(e.index) && e.index >= 0 && e.index < this.table.maxSymbols)) {
      this.conflicts.push(`${e.symbol}: index ${e.index} is outside 0..${this.table.maxSymbols - 1}`);
      return false;
    }
    this.table.assign(e.symbol, e.index);
    const before = this.entries[e.index];
    if (before !== undefined && before.partition >= 0) this.counts[before.partition] = (this.counts[before.partition] ?? 1) - 1;
    this.entries[e.index] = e;
    if (e.partition >= 0) this.counts[e.partition] = (this.counts[e.partition] ?? 0) + 1;
    this.ensurePlacement(e.index + 1);
    this.placement[e.index] = e.partition;
    if (e.index >= this.nextIndex) this.nextIndex = e.index + 1;
    return true;
  }

  /**
   * A new symbol (producer only): the next free index, placed on the least loaded of `partitions` partitions
   * (lowest partition on ties). The caller writes the entry before the symbol's first trade.
   */
  assign(name: string, partitions: number, extras: Partial<Omit<SymbolEntry, 'symbol' | 'index' | 'partition' | 'placementEpoch'>> = {}): SymbolEntry {
    if (this.table.has(name)) throw new KlinestreamError('AGGREGATOR_STATE', `symbol ${name} already has index ${this.table.indexOf(name)}`);
    if (this.nextIndex >= this.table.maxSymbols) {
      throw new KlinestreamError('AGGREGATOR_STATE', `the symbol table is full (${this.table.maxSymbols} symbols); cannot add ${name}`);
    }
    let best = 0;
    for (let p = 1; p < partitions; p++) if ((this.counts[p] ?? 0) < (this.counts[best] ?? 0)) best = p;
    const e = symbolEntry(name, this.nextIndex, { ...extras, partition: best, placementEpoch: 0 });
    this.apply(e);
    return e;
  }

  /** Moves a symbol to another partition (a migration); returns the new entry (epoch + 1). */
  move(index: number, partition: number): SymbolEntry {
    const e = this.entries[index];
    if (e === undefined) throw new KlinestreamError('AGGREGATOR_STATE', `cannot move unknown symbol index ${index}`);
    const moved = { ...e, partition, placementEpoch: e.placementEpoch + 1 };
    this.apply(moved);
    return moved;
  }

  private ensurePlacement(n: number): void {
    if (n <= this.placement.length) return;
    const next = new Int32Array(Math.max(n, this.placement.length * 2)).fill(-1);
    next.set(this.placement);
    this.placement = next;
  }
}
