import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const REPO = path.resolve(__dirname, '../..');
const BESIDE = path.join('..', 'shared', 'data', 'binance');

/** The repository this checkout was cloned from, when that is a folder on this machine (`git clone /work/main x`). */
function localOrigin(): string | undefined {
  const r = spawnSync('git', ['config', '--get', 'remote.origin.url'], { cwd: REPO, encoding: 'utf8' });
  const url = r.status === 0 ? r.stdout.trim() : '';
  if (url === '') return undefined;
  const dir = url.startsWith('file://') ? url.slice('file://'.length) : url;
  return path.isAbsolute(dir) && fs.existsSync(dir) ? dir : undefined;
}

/**
 * The real exchange data: KLINESTREAM_DATA_DIR, else `shared/data/binance` beside the repository, else beside
 * the local repository it was cloned from (a scratch clone in a temp dir still finds it). Missing data is an
 * error, not a skip: these tests exist to prove the parser on real frames.
 */
export function binanceDataDir(): string {
  const fromEnv = process.env.KLINESTREAM_DATA_DIR;
  if (fromEnv) return existing([fromEnv]);
  const beside = path.resolve(REPO, BESIDE);
  if (fs.existsSync(beside)) return beside;
  const origin = localOrigin();
  return existing(origin === undefined ? [beside] : [beside, path.resolve(origin, BESIDE)]);
}

function existing(candidates: string[]): string {
  const found = candidates.find((dir) => fs.existsSync(dir));
  if (found === undefined) {
    throw new Error(`reference data not found at ${candidates.join(' or ')}; set KLINESTREAM_DATA_DIR to the shared/data/binance folder`);
  }
  return found;
}
