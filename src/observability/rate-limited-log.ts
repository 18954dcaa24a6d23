/**
 * Logging for things that can happen thousands of times a second (bad frames, late trades): at most `perWindow`
 * lines per key per window, then one line saying how many were suppressed. Counting is the metrics' job;
 * this keeps a log readable while still showing examples with their context.
 */
import type { Logger, LogLevel } from './log';

export class RateLimitedLog {
  private readonly windows = new Map<string, { start: number; logged: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly perWindow = 5,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  write(level: LogLevel, key: string, msg: string, fields: Record<string, unknown>): void {
    const now = this.now();
    let w = this.windows.get(key);
    if (w === undefined || now - w.start >= this.windowMs) {
      if (w !== undefined && w.suppressed > 0) {
        this.log[level](`${msg} (and ${w.suppressed} more like it in the last ${Math.round((now - w.start) / 1000)} s)`, { key, suppressed: w.suppressed });
      }
      if (w === undefined && this.windows.size > 1000) this.windows.clear();
      w = { start: now, logged: 0, suppressed: 0 };
      this.windows.set(key, w);
    }
    if (w.logged < this.perWindow) {
      w.logged++;
      this.log[level](msg, fields);
    } else {
      w.suppressed++;
    }
  }
}
