/**
 * The package's own folder (where package.json, schemas/, data/ and src/web/static/ are), found from this
 * file whether it runs compiled (dist/src/config/) or from source (src/config/, in tests).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

let cached: string | undefined;

export function packageRoot(): string {
  if (cached !== undefined) return cached;
  let dir = __dirname;
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      try {
        if ((JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string }).name === 'klinestream') return (cached = dir);
      } catch {
        // not ours; keep looking
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`klinestream's package.json not found above ${__dirname}`);
    dir = up;
  }
}

/** The bundled exchange recordings (a copy of shared/data/binance, see data/binance/PROVENANCE.md). */
export function bundledDataDir(): string {
  return path.join(packageRoot(), 'data', 'binance');
}

/** The built CLI entry: what `run` starts its children with. */
export function cliScript(): string {
  return path.join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
}
