/** Public surface of the codec: schemas, registry access, wire format, encoders and decoders. */
export * from './records';
export { avscOptions, SchemaCatalogue, compileSchema, compileSchemaFile, defaultSchemaDir, findPackageRoot, type CatalogueEntry } from './schema-catalogue';
export { RegistryClient, registryError, valueSubject, type CompatibilityLevel, type RegistryClientOptions, type SchemaRegistryPort } from './schema-registry';
export { HEADER_LENGTH, MAGIC_BYTE, readSchemaId, writeHeader } from './wire-format';
export { AvroCodec, grownSize, type AvroCodecOptions } from './avro-codec';
export { EncodeArena, type ArenaEncoder } from './encode-arena';
export { registerValueCodec, valueDecoder } from './topic-codecs';
