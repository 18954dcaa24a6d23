/**
 * What the benchmarks share to build their input before any timing: a deterministic PRNG, so that every run
 * and every machine sees the same input, and the reference recordings.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findPackageRoot } from '../../src/codec/schema-catalogue';

/** mulberry32: small, fast, and good enough to draw benchmark input. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The reference recordings: `--data DIR`, else KLINESTREAM_DATA_DIR, else <repo>/../shared/data/binance. */
export function referenceDataDir(explicit: string | undefined): string {
  const dir = explicit ?? process.env.KLINESTREAM_DATA_DIR ?? path.resolve(findPackageRoot(), '..', 'shared', 'data', 'binance');
  if (!fs.existsSync(dir)) throw new Error(`reference data not found at ${dir}; pass --data DIR or set KLINESTREAM_DATA_DIR to the shared/data/binance folder`);
  return dir;
}

/** `aggtrade-frames*.jsonl.gz` anywhere below `dir`, sorted (so every run sees the same order). */
export function frameFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...frameFiles(p));
    else if (/^aggtrade-frames.*\.jsonl\.gz$/.test(e.name)) out.push(p);
  }
  return out.sort();
}
