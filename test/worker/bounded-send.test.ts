import type { Message } from 'kafkajs';
import { recordBytes, sendBounded, truncateForDlq, type TopicMessages } from '../../src/worker/bounded-send';

const msg = (key: string, bytes: number): Message => ({ key, value: Buffer.alloc(bytes, 1) });

describe('sendBounded', () => {
  it('cuts a flush of any size into requests under the budget, in order, each awaited before the next', async () => {
    const klines = Array.from({ length: 1000 }, (_, i) => msg(`k${i % 7}`, 150 + (i % 13)));
    const states = Array.from({ length: 50 }, (_, i) => msg(`s${i}`, 2000));
    const budget = 16_384;
    const sent: TopicMessages[][] = [];
    let inFlight = 0;
    const requests = await sendBounded(async (tm) => {
      expect(inFlight).toBe(0);
      inFlight++;
      await new Promise((r) => setImmediate(r));
      sent.push(tm);
      inFlight--;
    }, [{ topic: 'klines', messages: klines }, { topic: 'state', messages: states }], budget);
    expect(requests).toBe(sent.length);
    expect(requests).toBeGreaterThan(10);
    for (const request of sent) {
      const bytes = request.reduce((n, g) => n + g.messages.reduce((m, x) => m + recordBytes(x), 0), 0);
      expect(bytes).toBeLessThanOrEqual(budget);
    }
    // Every message exactly once, in its original order per topic.
    const flat = (topic: string) => sent.flatMap((r) => r.filter((g) => g.topic === topic).flatMap((g) => g.messages));
    expect(flat('klines')).toEqual(klines);
    expect(flat('state')).toEqual(states);
  });

  it('sends nothing for nothing, and a record above the budget alone', async () => {
    const sent: TopicMessages[][] = [];
    expect(await sendBounded(async (tm) => void sent.push(tm), [{ topic: 't', messages: [] }], 1000)).toBe(0);
    const big = msg('b', 5000);
    expect(await sendBounded(async (tm) => void sent.push(tm), [{ topic: 't', messages: [msg('a', 10), big, msg('c', 10)] }], 1000)).toBe(3);
    expect(sent.map((r) => r[0]!.messages.map((m) => m.key))).toEqual([['a'], ['b'], ['c']]);
  });

  it('stops at the first failed request (later parts are not sent)', async () => {
    let calls = 0;
    const messages = Array.from({ length: 100 }, (_, i) => msg(`k${i}`, 500));
    await expect(sendBounded(async () => {
      if (++calls === 2) throw new Error('broker said no');
    }, [{ topic: 't', messages }], 8192)).rejects.toThrow('broker said no');
    expect(calls).toBe(2);
  });
});

describe('truncateForDlq', () => {
  it('keeps a small dead letter as it is', () => {
    const m = { key: 'k', value: Buffer.alloc(100), headers: { 'klinestream.reason': 'undecodable' } };
    expect(truncateForDlq(m, 65_536)).toBe(m);
  });

  it('cuts a dead letter too large for a request, keeping its headers and its original size', () => {
    const m = { key: 'k', value: Buffer.alloc(1_000_000, 7), headers: { 'klinestream.reason': 'undecodable', 'klinestream.source.offset': '42' } };
    const t = truncateForDlq(m, 512 * 1024);
    expect(recordBytes(t)).toBeLessThanOrEqual(512 * 1024);
    expect(t.headers).toEqual({ ...m.headers, 'klinestream.original-size': '1000000', 'klinestream.truncated': 'true' });
    expect((t.value as Buffer).length).toBeGreaterThan(400 * 1024);
    expect((t.value as Buffer).equals(m.value.subarray(0, (t.value as Buffer).length))).toBe(true);
  });
});
