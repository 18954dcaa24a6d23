/**
 * The schema catalogue: every `schemas/*.avsc` file of the package, parsed once into an avsc Type.
 *
 * The schemas live at `<package root>/schemas` and are not copied by `tsc`, so the directory is found by
 * walking up from this file to the package root: that works from `src/codec` (jest, ts-node) and from
 * `dist/src/codec` (the built CLI) alike, and from an installed package (`files` includes `schemas`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as avro from 'avsc';
import { KlinestreamError } from '../errors';
import { SCHEMA_NAMES, type SchemaName } from './records';

/**
 * One set of avsc options for every Type the codec builds (catalogue readers and writer schemas fetched from
 * the registry alike), so that two Types of the same schema behave the same. Record methods are left off:
 * decoded records are plain data and nothing calls `record.toBuffer()`.
 * A fresh object per call: avsc stores its name registry in the options object it is given, so a shared one
 * would make the second schema named io.klinestream.Trade a "duplicate type name".
 */
export function avscOptions(): Partial<avro.ForSchemaOptions> {
  return { omitRecordMethods: true };
}

export interface CatalogueEntry {
  /** Short record name, e.g. `Trade`. */
  readonly name: string;
  /** Full name with namespace, e.g. `io.klinestream.Trade`. */
  readonly fullName: string;
  /** Absolute path of the .avsc file it came from. */
  readonly file: string;
  /** The schema as compact JSON text: what gets registered (docs included, so the registry shows them). */
  readonly text: string;
  /** The compiled reader/writer Type; compile once, share everywhere. */
  readonly type: avro.Type;
}

const PACKAGE_NAME = 'klinestream';

/**
 * The package root: the nearest ancestor of `start` holding klinestream's package.json. Throws rather than
 * guessing, because a wrong guess would register the wrong schemas.
 */
export function findPackageRoot(start: string = __dirname): string {
  let dir = path.resolve(start);
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        const parsed = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: unknown };
        if (parsed.name === PACKAGE_NAME) return dir;
      } catch {
        // An unreadable package.json of some other package: keep walking up.
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new KlinestreamError('SCHEMA_CATALOGUE', `cannot find the ${PACKAGE_NAME} package root above ${start} (looked for its package.json)`, { start });
    }
    dir = parent;
  }
}

/** `<package root>/schemas`. */
export function defaultSchemaDir(): string {
  return path.join(findPackageRoot(), 'schemas');
}

export class SchemaCatalogue {
  private constructor(
    readonly dir: string,
    private readonly entries: ReadonlyMap<string, CatalogueEntry>,
  ) {}

  /**
   * Loads and compiles every `*.avsc` in `dir`. Fails if a file is not a valid Avro record schema, if two
   * files define the same record, or if one of the records the code relies on (SCHEMA_NAMES) is missing.
   */
  static load(dir: string = defaultSchemaDir()): SchemaCatalogue {
    let files: string[];
    try {
      files = fs.readdirSync(dir).filter((f) => f.endsWith('.avsc')).sort();
    } catch (e) {
      throw new KlinestreamError('SCHEMA_CATALOGUE', `cannot read the schema directory ${dir}: ${(e as Error).message}`, { dir }, { cause: e });
    }
    const entries = new Map<string, CatalogueEntry>();
    for (const f of files) {
      const entry = compileSchemaFile(path.join(dir, f));
      const clash = entries.get(entry.name);
      if (clash) {
        throw new KlinestreamError('SCHEMA_CATALOGUE', `schema ${entry.name} is defined twice: ${clash.file} and ${entry.file}`, { dir });
      }
      entries.set(entry.name, entry);
    }
    for (const name of SCHEMA_NAMES) {
      if (!entries.has(name)) {
        throw new KlinestreamError('SCHEMA_CATALOGUE', `schema directory ${dir} has no ${name} record schema (found: ${[...entries.keys()].join(', ') || 'none'})`, { dir });
      }
    }
    return new SchemaCatalogue(dir, entries);
  }

  /** The entry of a record the code relies on; always present after `load`. */
  get(name: SchemaName): CatalogueEntry {
    return this.lookup(name)!;
  }

  /** Any record in the catalogue by short name, or undefined. */
  lookup(name: string): CatalogueEntry | undefined {
    return this.entries.get(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }
}

/** Parses one .avsc file; exported for tests and for tools that check a schema file before committing it. */
export function compileSchemaFile(file: string): CatalogueEntry {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new KlinestreamError('SCHEMA_CATALOGUE', `schema file ${file} is not readable JSON: ${(e as Error).message}`, { file }, { cause: e });
  }
  return compileSchema(json, file);
}

/** Compiles a parsed schema; `origin` names it in error messages. */
export function compileSchema(json: unknown, origin: string): CatalogueEntry {
  let type: avro.Type;
  try {
    type = avro.Type.forSchema(json as avro.Schema, avscOptions());
  } catch (e) {
    throw new KlinestreamError('SCHEMA_CATALOGUE', `schema ${origin} is not a valid Avro schema: ${(e as Error).message}`, { file: origin }, { cause: e });
  }
  if (type.typeName !== 'record' || type.name === undefined) {
    throw new KlinestreamError('SCHEMA_CATALOGUE', `schema ${origin} must be a named Avro record, got ${type.typeName}`, { file: origin });
  }
  const fullName = type.name;
  const name = fullName.slice(fullName.lastIndexOf('.') + 1);
  return { name, fullName, file: origin, text: JSON.stringify(json), type };
}
