/**
 * Schema registration and lookup through @kafkajs/confluent-schema-registry, with its errors mapped to
 * KlinestreamError so callers (and operators reading logs) see one vocabulary:
 *
 * - an incompatible schema change (HTTP 409 from Confluent and from Apicurio's ccompat API): SCHEMA_INCOMPATIBLE,
 *   naming the subject and the compatibility level it was checked against;
 * - a schema id the registry does not know (HTTP 404 on /schemas/ids/{id}): CODEC_UNKNOWN_SCHEMA;
 * - anything else (unreachable, 5xx after the library's retries, auth, a subject configured with another
 *   compatibility level): SCHEMA_REGISTRY.
 *
 * Subjects follow the TopicNameStrategy: the value schema of topic `t` is registered under `t-value`.
 */
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import * as avro from 'avsc';
import { KlinestreamError } from '../errors';
import { redactUrlText, splitUrlCredentials, type UrlCredentials } from '../config/secrets';

/** What the codec needs from a registry; the real client below, or an in-memory fake in unit tests. */
export interface SchemaRegistryPort {
  /** Registers `schema` (Avro JSON text) under `subject` and returns its global id (the existing id if already registered). */
  register(subject: string, schema: string): Promise<number>;
  /** The Avro JSON text of schema `id`; rejects with CODEC_UNKNOWN_SCHEMA when the registry has no such id. */
  fetchSchema(id: number): Promise<string>;
}

/** TopicNameStrategy: the subject of a topic's value schema. */
export function valueSubject(topic: string): string {
  return `${topic}-value`;
}

export type CompatibilityLevel = `${COMPATIBILITY}`;

export interface RegistryClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:18081/apis/ccompat/v7` for Apicurio or `http://host:8081` for Confluent. */
  url: string;
  clientId?: string;
  /**
   * The compatibility level klinestream expects its subjects to have (default BACKWARD: new readers must read
   * old records, which is what a replay of retained trades needs). The client library refuses to register
   * under a subject configured with another level rather than silently changing it.
   */
  compatibility?: CompatibilityLevel;
  /** HTTP retries for 5xx and network errors (the library's exponential backoff). Default 3. */
  retries?: number;
  /**
   * Per-request timeout in ms (default 10 s). The HTTP layer has none by default, so a registry that accepts
   * connections but never answers would hang a producer or worker at startup forever.
   */
  timeoutMs?: number;
  /** HTTP basic auth (SCHEMA_REGISTRY_USERNAME / _PASSWORD). */
  auth?: { username: string; password: string };
}

function credentialsOutOfUrl(raw: string, given: RegistryClientOptions['auth']): { url: string; auth: RegistryClientOptions['auth'] } {
  let split: UrlCredentials;
  try {
    split = splitUrlCredentials(raw);
  } catch {
    // Not a URL: the library will fail on it; the message must still not carry what looked like user info.
    return { url: redactUrlText(raw).replace(/\/+$/, ''), auth: given };
  }
  if (split.username === undefined || given !== undefined) return { url: split.url, auth: given };
  return { url: split.url, auth: { username: split.username, password: split.password ?? '' } };
}

export class RegistryClient implements SchemaRegistryPort {
  readonly url: string;
  readonly compatibility: CompatibilityLevel;
  private readonly client: SchemaRegistry;

  constructor(options: RegistryClientOptions) {
    // User info in the URL (a library user may pass one) becomes basic auth, so that `url`, which every error
    // message quotes, never holds a password.
    const { url, auth } = credentialsOutOfUrl(options.url, options.auth);
    this.url = url;
    this.compatibility = options.compatibility ?? 'BACKWARD';
    const timeout = options.timeoutMs ?? 10_000;
    this.client = new SchemaRegistry({
      host: this.url,
      clientId: options.clientId ?? 'klinestream',
      ...(auth === undefined ? {} : { auth }),
      // Always given explicitly: the library merges it into a module-level default object, so a value left
      // out here would be whatever another client in the process last set.
      retry: { retries: options.retries ?? 3 },
      // A mappersmith middleware, written inline to avoid depending on mappersmith (only a transitive dependency).
      middlewares: [
        () => ({
          async prepareRequest(next) {
            const request = await next();
            return request.timeout() ? request : request.enhance({ timeout });
          },
        }),
      ],
    });
  }

  async register(subject: string, schema: string): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.registerOnce(subject, schema);
      } catch (e) {
        // Two processes registered a new subject at once (workers starting together): both saw no config,
        // both registered, and the second one's config write lost the race. The schema is registered;
        // registering again reads the winner's config and checks it against ours like any later start would.
        if (attempt === 1 && isConfigRace(e)) continue;
        throw registryError(e, { operation: 'register', url: this.url, subject, compatibility: this.compatibility, schemaName: schemaNameOf(schema) });
      }
    }
  }

  private async registerOnce(subject: string, schema: string): Promise<number> {
    const { id } = await this.client.register(
      { type: SchemaType.AVRO, schema },
      { subject, compatibility: this.compatibility as COMPATIBILITY },
    );
    return id;
  }

  async fetchSchema(id: number): Promise<string> {
    let found: unknown;
    try {
      found = await this.client.getSchema(id);
    } catch (e) {
      throw registryError(e, { operation: 'fetch', url: this.url, schemaId: id });
    }
    // The library hands back the avsc Type it compiled; its canonical JSON is all that resolution needs.
    if (!avro.Type.isType(found)) {
      throw new KlinestreamError('SCHEMA_REGISTRY', `schema registry ${this.url}: schema id ${id} is not an Avro schema`, { schemaId: id, url: this.url });
    }
    return JSON.stringify((found as avro.Type).schema());
  }
}

interface RegistryErrorContext {
  operation: 'register' | 'fetch';
  url: string;
  subject?: string;
  compatibility?: string;
  schemaName?: string;
  schemaId?: number;
}

/** The shape of the library's HTTP error (mappersmith response wrapped by its error middleware). */
interface HttpishError {
  message: string;
  status: number;
}

function isHttpishError(e: unknown): e is HttpishError {
  return e instanceof Error && typeof (e as { status?: unknown }).status === 'number';
}

/**
 * The library registers a new subject and then writes its compatibility config; Apicurio answers that write
 * with 409 "A rule named 'COMPATIBILITY' already exists" when another client wrote it first. Not a schema
 * conflict: the schema itself was accepted.
 */
export function isConfigRace(e: unknown): boolean {
  return isHttpishError(e) && e.status === 409 && /rule named '?COMPATIBILITY'? already exists/i.test(e.message);
}

/** Network-level failures reach us as a synthetic HTTP 400 whose message is the socket error. */
const NETWORK_FAILURE = /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EPIPE|socket hang up|Timeout \(\d+ms\)/;

/** Maps a registry client failure to KlinestreamError; exported for unit tests of the mapping. */
export function registryError(e: unknown, ctx: RegistryErrorContext): KlinestreamError {
  if (e instanceof KlinestreamError) return e;
  const details: Record<string, unknown> = { ...ctx };
  const what = ctx.operation === 'register'
    ? `registering ${ctx.schemaName ?? 'a schema'} under subject "${ctx.subject}"`
    : `fetching schema id ${ctx.schemaId}`;
  const cause = e instanceof Error ? e.message : String(e);

  if (e instanceof Error && e.name === 'ConfluentSchemaRegistryCompatibilityError') {
    // The library read the subject's configured level and it differs from ours; we do not override it.
    return new KlinestreamError(
      'SCHEMA_REGISTRY',
      `schema registry ${ctx.url}: ${what}: the subject is configured with another compatibility level than ${ctx.compatibility} (${cause}); set the subject's compatibility to ${ctx.compatibility} (PUT /config/${ctx.subject}) or remove its override`,
      details,
      { cause: e },
    );
  }
  if (!isHttpishError(e)) {
    return new KlinestreamError('SCHEMA_REGISTRY', `schema registry ${ctx.url}: ${what} failed: ${cause}`, details, { cause: e });
  }
  details.status = e.status;
  if (e.status === 409 && ctx.operation === 'register') {
    return new KlinestreamError(
      'SCHEMA_INCOMPATIBLE',
      `schema registry ${ctx.url} refused ${ctx.schemaName ?? 'the schema'} for subject "${ctx.subject}": not ${ctx.compatibility}-compatible with the versions already registered (HTTP 409: ${stripClientPrefix(cause)})`,
      details,
      { cause: e },
    );
  }
  if (e.status === 404 && ctx.operation === 'fetch') {
    return new KlinestreamError('CODEC_UNKNOWN_SCHEMA', `schema registry ${ctx.url} does not know schema id ${ctx.schemaId}`, { ...details, schemaId: ctx.schemaId }, { cause: e });
  }
  if (e.status === 422) {
    return new KlinestreamError('SCHEMA_REGISTRY', `schema registry ${ctx.url} rejected ${what} as invalid (HTTP 422: ${stripClientPrefix(cause)})`, details, { cause: e });
  }
  if (e.status === 400 && NETWORK_FAILURE.test(cause)) {
    // No HTTP answer at all: the 400 is mappersmith's stand-in, so do not report it as a status.
    delete details.status;
    return new KlinestreamError('SCHEMA_REGISTRY', `schema registry ${ctx.url} is unreachable while ${what}: ${stripClientPrefix(cause)}`, details, { cause: e });
  }
  return new KlinestreamError('SCHEMA_REGISTRY', `schema registry ${ctx.url}: ${what} failed (HTTP ${e.status}: ${stripClientPrefix(cause)})`, details, { cause: e });
}

/**
 * The library prefixes messages with its client id ("klinestream - ..."), and Apicurio with the Java
 * exception class ("io.apicurio.registry.rules.RuleViolationException: ..."); neither helps a reader.
 */
function stripClientPrefix(message: string): string {
  return message.replace(/^[\w.-]+ - /, '').replace(/^(?:[a-z]\w*\.)+\w*Exception: /, '');
}

function schemaNameOf(schema: string): string | undefined {
  try {
    const parsed = JSON.parse(schema) as { name?: unknown; namespace?: unknown };
    if (typeof parsed.name !== 'string') return undefined;
    return typeof parsed.namespace === 'string' && !parsed.name.includes('.') ? `${parsed.namespace}.${parsed.name}` : parsed.name;
  } catch {
    return undefined;
  }
}
