/**
 * The `symbols` topic into a SymbolDirectory: read whole at start, then followed, so a worker learns a new
 * symbol's name and placement (written by the producer before the symbol's first trade, in the same
 * transaction) and can ask `catchUp()` when a trade names an index it does not know yet.
 */
import type { Admin, Kafka } from 'kafkajs';
import type { AvroCodec } from '../codec/avro-codec';
import type { SymbolEntry } from '../codec/records';
import { TopicReader } from '../kafka/topic-reader';
import type { Logger } from '../observability/log';
import type { SymbolDirectory } from './symbol-directory';

export interface SymbolsFollowerOptions {
  kafka: Kafka;
  admin: Admin;
  topic: string;
  groupPrefix: string;
  decoder: AvroCodec<SymbolEntry>;
  directory: SymbolDirectory;
  log: Logger;
  /** Called after an entry was applied (new symbol, or a placement change). */
  onEntry?: (e: SymbolEntry, previous: SymbolEntry | undefined) => void;
}

export class SymbolsFollower {
  private readonly reader: TopicReader;
  undecodable = 0;
  private reportedConflicts = 0;

  constructor(private readonly options: SymbolsFollowerOptions) {
    const { kafka, admin, topic, groupPrefix, log } = options;
    this.reader = new TopicReader({
      kafka, admin, topic, groupPrefix, log,
      onBatch: async (_partition, messages) => {
        for (const m of messages) {
          if (m.value === null) continue;
          let e: SymbolEntry;
          try {
            e = await options.decoder.decodeAsync(m.value);
          } catch (err) {
            this.undecodable++;
            log.error('undecodable symbols record skipped', { topic, offset: m.offset, key: m.key?.toString('utf8'), error: err });
            continue;
          }
          const previous = options.directory.entry(e.index);
          if (options.directory.apply(e)) options.onEntry?.(e, previous);
          this.reportConflicts();
        }
      },
    });
  }

  start(): Promise<void> {
    return this.reader.start();
  }

  /** Waits until everything written to `symbols` so far has been applied. */
  catchUp(): Promise<void> {
    return this.reader.catchUp();
  }

  stop(): Promise<void> {
    return this.reader.stop();
  }

  private reportConflicts(): void {
    const c = this.options.directory.conflicts;
    for (; this.reportedConflicts < c.length; this.reportedConflicts++) {
      this.options.log.error('conflicting symbols entry ignored (an index is never reused)', { topic: this.options.topic, conflict: c[this.reportedConflicts] });
    }
  }
}
