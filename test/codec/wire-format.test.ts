import { HEADER_LENGTH, MAGIC_BYTE, readSchemaId, writeHeader } from '../../src/codec/wire-format';
import { caught } from './fixtures';

describe('Confluent wire header', () => {
  it('is magic byte 0 followed by the schema id as big-endian int32', () => {
    const buf = Buffer.alloc(HEADER_LENGTH + 2, 0xee);
    writeHeader(buf, 1, 0x01020304);
    expect([...buf]).toEqual([0xee, MAGIC_BYTE, 0x01, 0x02, 0x03, 0x04, 0xee]);
  });

  it('reads back the id it wrote, over the whole int32 range', () => {
    for (const id of [0, 1, 255, 256, 65_536, 0x7fffffff, -1, -0x80000000]) {
      const buf = Buffer.alloc(HEADER_LENGTH);
      writeHeader(buf, 0, id);
      expect(readSchemaId(buf)).toBe(id);
    }
  });

  it('reports fewer than 5 bytes as CODEC_TRUNCATED with the length', () => {
    for (let n = 0; n < HEADER_LENGTH; n++) {
      const e = caught(() => readSchemaId(Buffer.alloc(n)));
      expect(e.code).toBe('CODEC_TRUNCATED');
      expect(e.details).toEqual({ byteLength: n });
    }
  });

  it('reports a first byte other than 0 as CODEC_BAD_MAGIC, naming the byte', () => {
    const e = caught(() => readSchemaId(Buffer.from('{"json":true}')));
    expect(e.code).toBe('CODEC_BAD_MAGIC');
    expect(e.message).toContain('0x7b');
    expect(e.details).toMatchObject({ byteLength: 13, firstByte: 0x7b });
  });
});
