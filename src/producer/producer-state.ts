/**
 * The producer's checkpoint topic (`producer-state`, compacted, internal): per symbol the last aggregate id
 * and trade time written to `trades`, committed in the same transaction as those trades, so it always says
 * exactly what `trades` holds. Plus one owner record naming the producer instance that holds the
 * transactional id (see "Fencing a second producer" in docs/kafka-design.md).
 *
 * Value of a symbol record: 16 bytes, big-endian doubles (last aggId, its trade time).
 */
import { KlinestreamError } from '../errors';

export const OWNER_KEY = '\u0000owner';
const CHECKPOINT_BYTES = 16;

export interface Checkpoint {
  lastAggId: number;
  lastTradeTime: number;
}

export interface OwnerRecord {
  instance: string;
  host: string;
  pid: number;
  startedAt: string;
}

export function encodeCheckpoint(lastAggId: number, lastTradeTime: number, out: Buffer = Buffer.allocUnsafe(CHECKPOINT_BYTES)): Buffer {
  out.writeDoubleBE(lastAggId, 0);
  out.writeDoubleBE(lastTradeTime, 8);
  return out;
}

export function decodeCheckpoint(value: Buffer, key: string): Checkpoint {
  if (value.length !== CHECKPOINT_BYTES) {
    throw new KlinestreamError('STATE_UNREADABLE', `producer-state record for ${JSON.stringify(key)} has ${value.length} bytes, expected ${CHECKPOINT_BYTES}`, { key });
  }
  const lastAggId = value.readDoubleBE(0);
  const lastTradeTime = value.readDoubleBE(8);
  if (!Number.isSafeInteger(lastAggId) || !Number.isSafeInteger(lastTradeTime)) {
    throw new KlinestreamError('STATE_UNREADABLE', `producer-state record for ${JSON.stringify(key)} holds no valid aggregate id / time`, { key });
  }
  return { lastAggId, lastTradeTime };
}

export function encodeOwner(owner: OwnerRecord): Buffer {
  return Buffer.from(JSON.stringify(owner));
}

export function decodeOwner(value: Buffer): OwnerRecord | undefined {
  try {
    const o = JSON.parse(value.toString('utf8')) as Partial<OwnerRecord>;
    return typeof o.instance === 'string' ? (o as OwnerRecord) : undefined;
  } catch {
    return undefined;
  }
}
