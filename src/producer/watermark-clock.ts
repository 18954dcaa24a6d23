/**
 * Event-time watermarks of the producer (docs/kafka-design.md, "Watermarks"). A WATERMARK record with time W
 * on partition p promises that every trade of p with tradeTime < W is already written before it, up to the
 * cross-symbol skew that the workers' grace absorbs. Pure: callers pass every time.
 *
 * Live: W(p) = min of
 *   - every open connection's reached event time: its newest frame's E or, while it is quiet, its last sign
 *     of life (frame or pong, local time) moved onto the exchange clock (offset learnt from the newest frame)
 *     minus a safety lag;
 *   - the hold time of every symbol of p that is not LIVE (gap, backfill, reconnect watch).
 * From a file: W = the highest trade time read (no connections, no holds), so replays write the same records.
 *
 * Cadence: a partition gets a new watermark once W moved by `intervalMs` of event time, or, when W moved less
 * but `intervalMs` of wall time passed since its last one (a quiet exchange). W never goes backwards.
 */
export interface WatermarkOptions {
  partitions: number;
  intervalMs: number;
  /** How far behind the exchange clock a quiet connection's reached time is put. Default 1000 ms. */
  quietLagMs?: number;
}

interface ConnectionClock {
  maxEventTime: number;
  lastAlive: number;
}

export class WatermarkClock {
  readonly intervalMs: number;
  private readonly quietLagMs: number;
  private partitions = 0;
  /** Last watermark written per partition. */
  private last = new Float64Array(0);
  private lastWall = new Float64Array(0);
  /** Scratch for the computed candidates. */
  private candidate = new Float64Array(0);
  private readonly connections = new Map<number, ConnectionClock>();
  /** exchange time - local time, from the newest frame; NaN until the first frame. */
  private offset = NaN;
  /** File mode: highest trade time read. */
  private maxTradeTime = -Infinity;

  constructor(options: WatermarkOptions) {
    this.intervalMs = options.intervalMs;
    this.quietLagMs = options.quietLagMs ?? 1000;
    this.setPartitions(options.partitions);
  }

  get partitionCount(): number {
    return this.partitions;
  }

  setPartitions(n: number): void {
    if (n === this.partitions) return;
    const grow = (a: Float64Array, fill: number) => {
      const b = new Float64Array(n).fill(fill);
      b.set(a.subarray(0, Math.min(a.length, n)));
      return b;
    };
    // A new partition starts at the oldest watermark of the others: its symbols come from them.
    const floor = this.partitions === 0 ? -Infinity : Math.min(...this.last);
    this.last = grow(this.last, floor);
    this.lastWall = grow(this.lastWall, 0);
    this.candidate = new Float64Array(n);
    this.partitions = n;
  }

  lastWatermark(partition: number): number {
    return this.last[partition]!;
  }

  // ---- live inputs ---------------------------------------------------------------------------------------

  connectionOpened(id: number, now: number): void {
    this.connections.set(id, { maxEventTime: -Infinity, lastAlive: now });
  }

  connectionClosed(id: number): void {
    this.connections.delete(id);
  }

  /** The event time a connection had reached (for the symbols it leaves on watch when it breaks). */
  reached(id: number, now: number): number {
    const c = this.connections.get(id);
    return c === undefined ? -Infinity : this.reachedOf(c, now);
  }

  frame(id: number, eventTime: number, receivedAt: number): void {
    const c = this.connections.get(id);
    if (c === undefined) return;
    if (eventTime > c.maxEventTime) c.maxEventTime = eventTime;
    c.lastAlive = receivedAt;
    this.offset = eventTime - receivedAt;
  }

  alive(id: number, at: number): void {
    const c = this.connections.get(id);
    if (c !== undefined && at > c.lastAlive) c.lastAlive = at;
  }

  // ---- file input ----------------------------------------------------------------------------------------

  /** File mode: a trade was read; returns true when the watermark moved by an interval (emit now). */
  observeTradeTime(tradeTime: number): boolean {
    if (tradeTime > this.maxTradeTime) this.maxTradeTime = tradeTime;
    return this.maxTradeTime >= this.last[0]! + this.intervalMs;
  }

  /** File mode: the watermark every partition gets now (call after observeTradeTime said so, and at the end). */
  fileWatermark(): number {
    return this.maxTradeTime;
  }

  // ---- output --------------------------------------------------------------------------------------------

  /** Event time every open connection has reached; -Infinity when there is none or one knows nothing yet. */
  connectionsReached(now: number): number {
    if (this.connections.size === 0) return -Infinity;
    let min = Infinity;
    for (const c of this.connections.values()) {
      const r = this.reachedOf(c, now);
      if (r < min) min = r;
    }
    return min;
  }

  /**
   * Computes the watermarks due now and calls `emit(partition, watermark)` for each. `base` is the time every
   * source has reached (connectionsReached, or fileWatermark); `holds` the not-LIVE symbols with their hold
   * time and partition.
   */
  due(
    now: number,
    base: number,
    holds: Iterable<number>,
    holdTime: (symbol: number) => number,
    partitionOf: (symbol: number) => number,
    emit: (partition: number, watermark: number) => void,
  ): void {
    const c = this.candidate;
    c.fill(base);
    for (const s of holds) {
      const p = partitionOf(s);
      const h = holdTime(s);
      if (p >= 0 && p < this.partitions && h < c[p]!) c[p] = h;
    }
    for (let p = 0; p < this.partitions; p++) {
      const w = c[p]!;
      const last = this.last[p]!;
      if (!(w > last) || !Number.isFinite(w)) continue;
      if (w - last >= this.intervalMs || now - this.lastWall[p]! >= this.intervalMs) {
        this.last[p] = w;
        this.lastWall[p] = now;
        emit(p, w);
      }
    }
  }

  /** Every partition whose watermark is below `w` gets `w` now (the end of a file: same as `aggregate`). */
  final(w: number, emit: (partition: number, watermark: number) => void): void {
    if (!Number.isFinite(w)) return;
    for (let p = 0; p < this.partitions; p++) {
      if (w > this.last[p]!) {
        this.last[p] = w;
        emit(p, w);
      }
    }
  }

  private reachedOf(c: ConnectionClock, now: number): number {
    if (Number.isNaN(this.offset)) return c.maxEventTime;
    const quiet = Math.min(c.lastAlive, now) + this.offset - this.quietLagMs;
    return quiet > c.maxEventTime ? quiet : c.maxEventTime;
  }
}
