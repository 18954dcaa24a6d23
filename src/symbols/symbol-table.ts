/**
 * Symbol name <-> global symbol index, the one place where a trade's string symbol becomes a number (at the
 * edge: the producer, or `aggregate` offline). The Kafka-backed registry (the compacted `symbols` topic)
 * builds on this table; everything after the edge sees only indexes.
 */
import { KlinestreamError } from '../errors';

export class SymbolTable {
  private readonly byName = new Map<string, number>();
  private readonly names: string[] = [];

  constructor(readonly maxSymbols = 65536) {}

  get size(): number {
    return this.names.length;
  }

  /** The index of `symbol`, assigning the next free one on first sight. */
  indexOf(symbol: string): number {
    const known = this.byName.get(symbol);
    if (known !== undefined) return known;
    if (this.names.length >= this.maxSymbols) {
      throw new KlinestreamError('AGGREGATOR_STATE', `symbol table is full (${this.maxSymbols} symbols); cannot add ${symbol}`);
    }
    const index = this.names.length;
    this.byName.set(symbol, index);
    this.names.push(symbol);
    return index;
  }

  /** Records a known assignment (e.g. read back from the `symbols` topic). */
  assign(symbol: string, index: number): void {
    const known = this.byName.get(symbol);
    if (known === index) return;
    if (known !== undefined) throw new KlinestreamError('AGGREGATOR_STATE', `symbol ${symbol} is already index ${known}, not ${index}`);
    if (this.names[index] !== undefined) throw new KlinestreamError('AGGREGATOR_STATE', `index ${index} is already ${this.names[index]}, not ${symbol}`);
    this.byName.set(symbol, index);
    this.names[index] = symbol;
  }

  has(symbol: string): boolean {
    return this.byName.has(symbol);
  }

  nameOf(index: number): string | undefined {
    return this.names[index];
  }
}
