/**
 * A multi-symbol frames file made of real trades: each of the recorded datasets in shared/data/binance is
 * replayed `copies` times under its own symbol name (BTC23A, BTC23B, ...), all moved onto one UTC day (copy c
 * c minutes later), and merged into one stream ordered by trade time, as a combined-stream connection would
 * deliver them. Prices, quantities, ids and flags are the exchange's; only names and times move.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { binanceDataDir } from './data-dir';

const DAY = 86_400_000;

export interface MergedFrames {
  file: string;
  symbols: string[];
  trades: number;
  dir: string;
}

interface RawTrade {
  T: number;
  line: string;
}

const SOURCES: Array<{ dataset: string; prefix: string }> = [
  { dataset: 'btcusdt-usdm-2023-04-04', prefix: 'BTC23' },
  { dataset: 'btcusdt-usdm-2024-07-18', prefix: 'BTC24J' },
  { dataset: 'btcusdt-usdm-2024-08-08', prefix: 'BTC24A' },
  { dataset: 'xrpeth-spot-2019-10-11', prefix: 'XRPETH' },
];

/**
 * Writes the merged file into a new temp dir; `limitPerSymbol` keeps only the first trades of each copy, `datasets`
 * chooses the recordings (the three BTCUSDT ones all lie around midnight: together about ten minutes of trading).
 */
export function mergedFrames(
  copies = 3, limitPerSymbol = Infinity, datasets: readonly string[] = SOURCES.map((s) => s.dataset), target = new Date('2026-01-05T00:00:00Z').getTime(),
): MergedFrames {
  const all: RawTrade[] = [];
  const symbols: string[] = [];
  for (const { dataset, prefix } of SOURCES.filter((s) => datasets.includes(s.dataset))) {
    const lines = zlib.gunzipSync(fs.readFileSync(path.join(binanceDataDir(), dataset, 'aggtrade-frames.jsonl.gz'))).toString('utf8').trim().split('\n');
    const frames = lines.map((l) => JSON.parse(l) as { data: Record<string, unknown> });
    const first = frames[0]!.data.T as number;
    for (let c = 0; c < copies; c++) {
      const name = `${prefix}${String.fromCharCode(65 + c)}`;
      symbols.push(name);
      // Whole days onto the target day (each dataset keeps its time of day), then c minutes apart.
      const shift = Math.floor(target / DAY) * DAY - Math.floor(first / DAY) * DAY + c * 60_000;
      let n = 0;
      for (const f of frames) {
        if (n++ >= limitPerSymbol) break;
        const d = { ...f.data, s: name, E: (f.data.E as number) + shift, T: (f.data.T as number) + shift };
        all.push({ T: d.T, line: JSON.stringify({ stream: `${name.toLowerCase()}@aggTrade`, data: d }) });
      }
    }
  }
  // Stable sort by trade time: within one symbol the file order (aggregate id order) is kept.
  all.sort((a, b) => a.T - b.T);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-frames-'));
  const file = path.join(dir, 'merged-frames.jsonl');
  fs.writeFileSync(file, all.map((t) => t.line).join('\n') + '\n');
  return { file, symbols, trades: all.length, dir };
}
