/**
 * Produce requests under a byte budget. kafkajs puts all messages of one partition in a send into one record
 * batch, and the broker refuses a batch above the topic's `max.message.bytes` (MESSAGE_TOO_LARGE, which no
 * retry can cure). So a flush never hands kafkajs more than `budget` bytes at once: its messages are cut into
 * consecutive requests, in order, and each is acknowledged before the next goes out (per key order holds).
 * The budget comes from configuration, lowered to what the topics accept (`effectiveBudget`).
 */
import type { Admin, Message } from 'kafkajs';
import type { Logger } from '../observability/log';

export interface TopicMessages {
  topic: string;
  messages: Message[];
}

/** Record overhead in a v2 batch (attributes, deltas, lengths, header framing): generous on purpose. */
const RECORD_OVERHEAD = 64;
/** A record batch's own header. */
const BATCH_OVERHEAD = 128;

export function recordBytes(m: Message): number {
  let n = RECORD_OVERHEAD;
  if (m.key !== null && m.key !== undefined) n += typeof m.key === 'string' ? Buffer.byteLength(m.key) : m.key.length;
  if (m.value !== null && m.value !== undefined) n += typeof m.value === 'string' ? Buffer.byteLength(m.value) : m.value.length;
  if (m.headers !== undefined) {
    for (const k in m.headers) {
      const v = m.headers[k];
      n += k.length + 8 + (typeof v === 'string' ? Buffer.byteLength(v) : Buffer.isBuffer(v) ? v.length : 0);
    }
  }
  return n;
}

/**
 * Sends `groups` (in order) as requests of at most `budget` bytes each; returns the number of requests.
 * A single record above the budget is sent alone (callers keep records below it: see truncateForDlq).
 */
export async function sendBounded(send: (topicMessages: TopicMessages[]) => Promise<unknown>, groups: readonly TopicMessages[], budget: number): Promise<number> {
  let requests = 0;
  let current: TopicMessages[] = [];
  let bytes = BATCH_OVERHEAD;
  let open: TopicMessages | undefined;
  for (const g of groups) {
    open = undefined;
    for (const m of g.messages) {
      const n = recordBytes(m);
      if (bytes + n > budget && bytes > BATCH_OVERHEAD) {
        await send(current);
        requests++;
        current = [];
        bytes = BATCH_OVERHEAD;
        open = undefined;
      }
      if (open === undefined) current.push((open = { topic: g.topic, messages: [] }));
      open.messages.push(m);
      bytes += n;
    }
  }
  if (bytes > BATCH_OVERHEAD) {
    await send(current);
    requests++;
  }
  return requests;
}

/** The configured budget, lowered below the smallest `max.message.bytes` of `topics` (10% headroom). */
export async function effectiveBudget(admin: Admin, topics: readonly string[], configured: number, log: Logger): Promise<number> {
  try {
    const r = await admin.describeConfigs({ includeSynonyms: false, resources: topics.map((name) => ({ type: 2, name, configNames: ['max.message.bytes'] })) });
    let smallest = Infinity;
    for (const res of r.resources) {
      const v = Number(res.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue);
      if (Number.isFinite(v) && v > 0) smallest = Math.min(smallest, v);
    }
    const budget = Math.min(configured, Math.floor(smallest * 0.9));
    if (budget < configured) log.info('produce requests kept below the topics\' max.message.bytes', { configured, maxMessageBytes: smallest, budget });
    return Math.max(16_384, budget);
  } catch (e) {
    log.warn('could not read the topics\' max.message.bytes; using the configured request budget', { error: e, budget: configured });
    return configured;
  }
}

/**
 * A dead letter that cannot fit in a request keeps its headers and the start of its value, with the original
 * size in `klinestream.original-size` (the full record stays readable in `trades` at its offset).
 */
export function truncateForDlq(m: Message, budget: number): Message {
  const limit = budget - BATCH_OVERHEAD - 4096;
  if (recordBytes(m) <= limit || !Buffer.isBuffer(m.value)) return m;
  const keep = Math.max(0, limit - (recordBytes(m) - m.value.length) - 64);
  return { ...m, value: m.value.subarray(0, keep), headers: { ...m.headers, 'klinestream.original-size': String(m.value.length), 'klinestream.truncated': 'true' } };
}
