/**
 * The module layers of src/ (issue 16), top to bottom. A module may import its own layer and the layers
 * below it, never one above; `stack` (the embedded Kafka and registry) sits beside the rest and is imported
 * only by the CLI and the supervisor, so that the library and the long-running roles never load it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const SRC = path.resolve(__dirname, '../../src');

/** Rank of each top-level folder (or file) of src/: higher imports lower. */
export const LAYERS: Record<string, number> = {
  cli: 6,
  index: 6,
  run: 5, web: 5,
  producer: 4, worker: 4, downstream: 4, verify: 4,
  kafka: 3, codec: 3, symbols: 3,
  aggregation: 2, exchange: 2, stack: 2,
  config: 1, observability: 1, errors: 1,
};

/** The only modules that may import src/stack. */
export const STACK_USERS = ['cli/', 'run/supervisor.ts', 'stack/'];

export interface ImportEdge {
  from: string;
  to: string;
  typeOnly: boolean;
}

export function sourceFiles(dir = SRC): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative imports, exports-from and requires of a file, as paths relative to src/. */
export function importsOf(file: string): ImportEdge[] {
  const text = fs.readFileSync(file, 'utf8');
  const from = path.relative(SRC, file);
  const edges: ImportEdge[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?[^'";]*?from\s+'(\.[^']+)'|^\s*import\s+'(\.[^']+)'|require\('(\.[^']+)'\)/gm;
  for (const m of text.matchAll(re)) {
    const spec = m[3] ?? m[4] ?? m[5]!;
    const to = path.relative(SRC, path.resolve(path.dirname(file), spec));
    edges.push({ from, to, typeOnly: m[2] !== undefined });
  }
  return edges;
}

export function layerOf(relPath: string): string {
  const first = relPath.split(path.sep)[0]!;
  return first.replace(/\.ts$/, '');
}
