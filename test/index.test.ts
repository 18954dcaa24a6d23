/**
 * The library entry (package.json main -> src/index.ts) loads nothing of the embedded stack: a downstream
 * service that imports `klinestream` for KlineConsumer gets no Java discovery, pid files or service
 * management. Checked in a fresh Node process (jest's module registry is not Node's), on the sources
 * compiled by swc as the tests are.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

/** The src/ modules Node loaded after `require(entry)`, relative to the package root. */
function loadedBy(entry: string): string[] {
  const script = `
    const fs = require('node:fs');
    const swc = require('@swc/core');
    require.extensions['.ts'] = (m, file) => m._compile(swc.transformSync(fs.readFileSync(file, 'utf8'), {
      filename: file, module: { type: 'commonjs' }, jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    }).code, file);
    require(process.argv[1]);
    process.stdout.write(JSON.stringify(Object.keys(require.cache)));
  `;
  const r = spawnSync(process.execPath, ['-e', script, path.join(ROOT, entry)], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`node exited ${r.status}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as string[]).map((f) => path.relative(ROOT, f)).filter((f) => f.startsWith('src/'));
}

describe('the library entry', () => {
  it('loads the consumer and nothing of src/stack, src/run, src/cli or src/web', () => {
    const loaded = loadedBy('src/index.ts');
    expect(loaded).toContain('src/downstream/kline-consumer.ts');
    expect(loaded).toContain('src/kafka/kafkajs-patch.ts');
    expect(loaded.filter((f) => /^src\/(stack|run|cli|web)\//.test(f))).toEqual([]);
  });

  it('loading the configuration loads no stack code either', () => {
    expect(loadedBy('src/config/config.ts').filter((f) => f.startsWith('src/stack/'))).toEqual([]);
  });
});
