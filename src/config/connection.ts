/**
 * Where every command and the library connect: the Kafka bootstrap brokers and the schema registry. The
 * addresses come from the configuration (KAFKA_BROKERS / SCHEMA_REGISTRY_URL) or, in the CLI only, from the
 * embedded local stack (src/stack/stack.ts `resolveConnection`). Defined here, below every layer that talks
 * to Kafka, so that the library never loads the stack's code to name this type.
 */
export interface Connection {
  brokers: string[];
  /** The registry's base URL, never with user info (credentials are in config.security, see config.ts). */
  schemaRegistryUrl: string;
  /** True when the addresses are the local stack's (started on demand), false when configured. */
  embedded: boolean;
}
