import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The real exchange data (`shared/data/binance`, beside the repository), or KLINESTREAM_DATA_DIR.
 * Missing data is an error, not a skip: these tests exist to prove the parser on real frames.
 */
export function binanceDataDir(): string {
  const dir = process.env.KLINESTREAM_DATA_DIR || path.resolve(__dirname, '../../..', 'shared/data/binance');
  if (!fs.existsSync(dir)) {
    throw new Error(`reference data not found at ${dir}; set KLINESTREAM_DATA_DIR to the shared/data/binance folder`);
  }
  return dir;
}
