/**
 * A synthetic market with a long silence: `symbols` symbols trade every few seconds for `beforeMinutes`,
 * then nothing at all for `silenceHours` (a producer outage longer than any backfill), then trade again for
 * `afterMinutes`. The first watermark after the silence closes every kline of every symbol across it at
 * once: about 2,600 klines per symbol for a day with the default intervals.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface SilentMarket {
  file: string;
  dir: string;
  trades: number;
}

export function silentMarketFrames(symbols = 100, beforeMinutes = 5, silenceHours = 26, afterMinutes = 3, everyMs = 6000): SilentMarket {
  const start = Date.UTC(2026, 0, 5, 0, 0, 0);
  const lines: string[] = [];
  const nextId = new Array<number>(symbols).fill(1000);
  const phases = [
    { from: start, to: start + beforeMinutes * 60_000 },
    { from: start + beforeMinutes * 60_000 + silenceHours * 3600_000, to: start + (beforeMinutes + afterMinutes) * 60_000 + silenceHours * 3600_000 },
  ];
  for (const { from, to } of phases) {
    for (let t = from; t < to; t += everyMs) {
      for (let s = 0; s < symbols; s++) {
        const name = `SIL${String(s).padStart(3, '0')}USDT`;
        const a = nextId[s]!++;
        const T = t + s * 7; // symbols a few ms apart, in time order
        const price = (100 + s + ((a * 37) % 101) / 10).toFixed(2);
        const qty = (0.001 * (1 + (a % 17))).toFixed(3);
        lines.push(JSON.stringify({ stream: `${name.toLowerCase()}@aggTrade`, data: { e: 'aggTrade', E: T + 1, s: name, a, p: price, q: qty, f: a * 2, l: a * 2 + 1, T, m: a % 3 === 0 } }));
      }
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-silent-'));
  const file = path.join(dir, 'silent-market.jsonl');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return { file, dir, trades: lines.length };
}
