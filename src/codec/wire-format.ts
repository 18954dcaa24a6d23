/**
 * The Confluent wire format: byte 0 is the magic byte 0, bytes 1..4 the schema id (big-endian int32, as the
 * Java serializers write it), then the Avro binary body. Pure functions on buffers, no registry involved.
 */
import { KlinestreamError } from '../errors';

export const MAGIC_BYTE = 0;
/** Magic byte + 4-byte schema id. */
export const HEADER_LENGTH = 5;

/** Writes the 5-byte header at `pos`; the caller guarantees `pos + HEADER_LENGTH <= buf.length`. */
export function writeHeader(buf: Buffer, pos: number, schemaId: number): void {
  buf[pos] = MAGIC_BYTE;
  buf.writeInt32BE(schemaId, pos + 1);
}

/**
 * The schema id of a wire-format record, checking only the header: fewer than 5 bytes is CODEC_TRUNCATED,
 * a first byte other than 0 is CODEC_BAD_MAGIC (typically a record written without the registry, or by a
 * different serializer).
 */
export function readSchemaId(buf: Buffer): number {
  if (buf.length < HEADER_LENGTH) throw truncatedHeader(buf.length);
  if (buf[0] !== MAGIC_BYTE) throw badMagic(buf[0]!, buf.length);
  return buf.readInt32BE(1);
}

export function truncatedHeader(byteLength: number): KlinestreamError {
  return new KlinestreamError(
    'CODEC_TRUNCATED',
    `record of ${byteLength} byte(s) is shorter than the ${HEADER_LENGTH}-byte Confluent wire header (magic byte + schema id)`,
    { byteLength },
  );
}

export function badMagic(firstByte: number, byteLength: number): KlinestreamError {
  return new KlinestreamError(
    'CODEC_BAD_MAGIC',
    `record does not start with the Confluent magic byte 0 (first byte 0x${firstByte.toString(16).padStart(2, '0')}); it was not written with a schema registry serializer`,
    { byteLength, firstByte },
  );
}
