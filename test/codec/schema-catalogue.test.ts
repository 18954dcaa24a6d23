import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SchemaCatalogue, defaultSchemaDir, findPackageRoot } from '../../src/codec/schema-catalogue';
import { caught } from './fixtures';

const ROOT = path.resolve(__dirname, '../..');

function tempSchemaDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-schemas-'));
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}

function fileText(name: string): string {
  return fs.readFileSync(path.join(ROOT, 'schemas', name), 'utf8');
}

describe('schema catalogue', () => {
  it('finds the package root from src/codec and from the built dist/src/codec alike', () => {
    expect(findPackageRoot(path.join(ROOT, 'src', 'codec'))).toBe(ROOT);
    // dist may not be built in a clean checkout; the lookup only needs the path, not the directory.
    expect(findPackageRoot(path.join(ROOT, 'dist', 'src', 'codec'))).toBe(ROOT);
    expect(defaultSchemaDir()).toBe(path.join(ROOT, 'schemas'));
  });

  it('refuses to guess when no klinestream package.json is above the start', () => {
    const e = caught(() => findPackageRoot(os.tmpdir()));
    expect(e.code).toBe('SCHEMA_CATALOGUE');
  });

  it('loads the three record schemas of schemas/ under the io.klinestream namespace', () => {
    const catalogue = SchemaCatalogue.load();
    expect(catalogue.names().sort()).toEqual(['Kline', 'SymbolEntry', 'Trade']);
    expect(catalogue.get('Trade').fullName).toBe('io.klinestream.Trade');
    expect(catalogue.get('Kline').fullName).toBe('io.klinestream.Kline');
    expect(catalogue.get('SymbolEntry').fullName).toBe('io.klinestream.SymbolEntry');
    expect(catalogue.get('Trade').file).toBe(path.join(ROOT, 'schemas', 'trade.avsc'));
    // What gets registered is the file's schema, docs included, as compact JSON.
    expect(JSON.parse(catalogue.get('Kline').text)).toEqual(JSON.parse(fileText('kline.avsc')));
  });

  it('gives every field of every schema a doc string', () => {
    for (const file of ['trade.avsc', 'kline.avsc', 'symbol-entry.avsc']) {
      const schema = JSON.parse(fileText(file)) as { doc?: string; fields: Array<{ name: string; doc?: string }> };
      expect(schema.doc).toEqual(expect.any(String));
      for (const f of schema.fields) expect([file, f.name, typeof f.doc]).toEqual([file, f.name, 'string']);
    }
  });

  it('fails with SCHEMA_CATALOGUE when a record the code needs is missing', () => {
    const dir = tempSchemaDir({ 'trade.avsc': fileText('trade.avsc'), 'kline.avsc': fileText('kline.avsc') });
    const e = caught(() => SchemaCatalogue.load(dir));
    expect(e.code).toBe('SCHEMA_CATALOGUE');
    expect(e.message).toContain('no SymbolEntry record schema');
  });

  it('fails when a file is not JSON, not Avro, or defines a record twice', () => {
    const base = { 'trade.avsc': fileText('trade.avsc'), 'kline.avsc': fileText('kline.avsc'), 'symbol-entry.avsc': fileText('symbol-entry.avsc') };
    expect(caught(() => SchemaCatalogue.load(tempSchemaDir({ ...base, 'bad.avsc': '{ not json' }))).message).toMatch(/bad\.avsc is not readable JSON/);
    expect(caught(() => SchemaCatalogue.load(tempSchemaDir({ ...base, 'bad.avsc': '{"type":"record","name":"X","fields":[{"name":"a","type":"nope"}]}' }))).message)
      .toMatch(/bad\.avsc is not a valid Avro schema/);
    expect(caught(() => SchemaCatalogue.load(tempSchemaDir({ ...base, 'copy.avsc': fileText('trade.avsc') }))).message).toMatch(/Trade is defined twice/);
    expect(caught(() => SchemaCatalogue.load(tempSchemaDir({ ...base, 'int.avsc': '"int"' }))).message).toMatch(/must be a named Avro record/);
  });

  it('ignores files that are not .avsc', () => {
    const dir = tempSchemaDir({ 'trade.avsc': fileText('trade.avsc'), 'kline.avsc': fileText('kline.avsc'), 'symbol-entry.avsc': fileText('symbol-entry.avsc'), 'README.md': '# notes' });
    expect(SchemaCatalogue.load(dir).names()).toHaveLength(3);
  });
});
