/**
 * Wiring: catalogue + registry + topic name -> a ready codec. Producers register the schema they write
 * (subject `<topic>-value`) and encode with the id the registry returns; consumers only need a decoder that
 * fetches writer schemas by id on first sight.
 */
import type { RecordTypes, SchemaName } from './records';
import { AvroCodec, type AvroCodecOptions } from './avro-codec';
import type { SchemaCatalogue } from './schema-catalogue';
import { valueSubject, type SchemaRegistryPort } from './schema-registry';

/**
 * Registers the catalogue's `name` schema as the value schema of `topic` and returns a codec that encodes with
 * the returned id (and decodes every writer id it can fetch). Registration is idempotent: the same schema
 * gets the same id again. Rejects with SCHEMA_INCOMPATIBLE when the subject already holds versions that
 * the schema is not compatible with, SCHEMA_REGISTRY when the registry cannot be asked.
 */
export async function registerValueCodec<N extends SchemaName>(
  registry: SchemaRegistryPort,
  catalogue: SchemaCatalogue,
  topic: string,
  name: N,
  options: Omit<AvroCodecOptions, 'registry' | 'schemaId'> = {},
): Promise<AvroCodec<RecordTypes[N]>> {
  const entry = catalogue.get(name);
  const schemaId = await registry.register(valueSubject(topic), entry.text);
  return new AvroCodec<RecordTypes[N]>(entry, { ...options, registry, schemaId });
}

/** A decoder for `name` records that learns writer schemas from the registry (`decodeAsync` / `prepare`). */
export function valueDecoder<N extends SchemaName>(
  registry: SchemaRegistryPort,
  catalogue: SchemaCatalogue,
  name: N,
  options: Omit<AvroCodecOptions, 'registry' | 'schemaId'> = {},
): AvroCodec<RecordTypes[N]> {
  return new AvroCodec<RecordTypes[N]>(catalogue.get(name), { ...options, registry });
}
