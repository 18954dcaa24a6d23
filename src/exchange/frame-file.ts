/**
 * Reading recorded frames for `--source file:PATH` (SPEC 5): one WebSocket text frame per line, optionally
 * gzipped, a line optionally prefixed by its receive timestamp.
 *
 * - Gzip is recognised by its magic bytes (1f 8b), not by the file name: recordings get renamed.
 * - Streaming: the file is read in chunks and split into lines here; no whole-file buffering. Lines are
 *   split on bytes rather than with readline so that one line is bounded (`maxLineBytes`: a file without
 *   newlines cannot pull gigabytes into memory) and so that frames stay bytes until the parser decodes
 *   them with strict UTF-8.
 * - Prefixes stripped: `1617566592.629139: {...}` (cryptofeed recordings, epoch seconds), `1680652700441533 {...}`
 *   (epoch micro/nanoseconds then a space). A prefix is stripped only when it is exactly a number (optional
 *   fraction) followed by `:`/`,` and/or blanks; any other text before the `{` stays, and the parser then
 *   reports the line as not JSON.
 * - Skipped and counted, not yielded: blank lines, and recorder header lines `wss://host/stream?streams=... <-> 1617566590.37`
 *   (not a frame, it says where the recording came from).
 */
import * as fs from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { KlinestreamError, UsageError } from '../errors';
import { AggTradeFrameParser, FrameResult, createAggTradeRecord, type AggTradeRecord } from './aggtrade-frame';
import type { FrameStats } from './frame-stats';
import { TIME_OK, type TradeTimeCheck } from './trade-times';

export interface FrameLine {
  /** 1-based physical line number in the (decompressed) file, counting skipped lines too. */
  lineNo: number;
  /**
   * The frame bytes, receive-timestamp prefix and surrounding blanks removed. A view into the read buffer
   * (no copy): copy it if you keep it beyond the current iteration.
   */
  frame: Buffer;
  /** 0, or the full length of a line longer than `maxLineBytes`; `frame` then holds only its first bytes and is not a frame. */
  oversizeBytes: number;
}

export interface FrameFileOptions {
  /** Longest line accepted, in bytes; longer lines are yielded with `oversizeBytes` set. Default 8 MiB. */
  maxLineBytes?: number;
}

/** Generous: an aggTrade frame is ~250 bytes, but a recording may hold all-market ticker arrays of several 100 KB. */
export const DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024;
const OVERSIZE_HEAD_BYTES = 256;
const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;
const READ_CHUNK_BYTES = 64 * 1024;

const NL = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const LBRACE = 0x7b;
const LBRACKET = 0x5b;
const DOT = 0x2e;
const COLON = 0x3a;
const COMMA = 0x2c;
const LOWER_W = 0x77;
const HEADER_LINE = /^wss?:\/\/\S+ <-> [0-9]+(?:\.[0-9]+)?$/;

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

function isBlank(c: number | undefined): boolean {
  return c === SPACE || c === TAB || c === CR;
}

/**
 * Index where the frame starts in `line[start, end)`: after a receive-timestamp prefix if there is one,
 * otherwise `start` (the whole line is the frame).
 */
export function frameStart(line: Uint8Array, start: number, end: number): number {
  let i = start;
  const intStart = i;
  while (i < end && isDigit(line[i])) i++;
  if (i === intStart) return start;
  if (line[i] === DOT) {
    i++;
    const fracStart = i;
    while (i < end && isDigit(line[i])) i++;
    if (i === fracStart) return start;
  }
  let separated = false;
  if (line[i] === COLON || line[i] === COMMA) {
    i++;
    separated = true;
  }
  while (i < end && isBlank(line[i])) {
    i++;
    separated = true;
  }
  // The number must be set apart from the frame: `123{` is more likely garbage than a timestamp.
  if (separated && i < end && (line[i] === LBRACE || line[i] === LBRACKET)) return i;
  return start;
}

function unreadable(path: string, what: string, cause: unknown, details: Record<string, unknown> = {}): KlinestreamError {
  const code = (cause as { code?: unknown } | null)?.code;
  const message = cause instanceof Error ? cause.message : String(cause);
  return new KlinestreamError('SOURCE_UNREADABLE', `cannot read frames file ${path}: ${what}${message ? `: ${message}` : ''}`, {
    path,
    ...(typeof code === 'string' ? { errno: code } : {}),
    ...details,
  }, { cause });
}

/** Fails early (before connecting anywhere) when PATH is not a readable regular file. */
export async function checkFrameFile(path: string): Promise<void> {
  let stat: fs.Stats;
  try {
    await fs.promises.access(path, fs.constants.R_OK);
    stat = await fs.promises.stat(path);
  } catch (e) {
    throw unreadable(path, 'not accessible', e);
  }
  if (!stat.isFile()) throw unreadable(path, 'not a regular file', '');
}

/**
 * The lines of a frames file as an async iterable; iterate it once. Opening happens on the first
 * iteration; a missing or unreadable file, or corrupt or truncated gzip data, throws a
 * KlinestreamError SOURCE_UNREADABLE naming the path (after the lines read so far were yielded).
 */
export class FrameFileReader implements AsyncIterable<FrameLine> {
  /** Physical lines seen so far (the last line number). */
  lines = 0;
  blankLines = 0;
  headerLines = 0;
  /** Known once iteration has started. */
  gzip: boolean | undefined;
  private readonly maxLineBytes: number;

  constructor(readonly path: string, options: FrameFileOptions = {}) {
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    if (!Number.isSafeInteger(this.maxLineBytes) || this.maxLineBytes < 1) {
      throw new RangeError(`maxLineBytes must be a positive integer, got ${this.maxLineBytes}`);
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<FrameLine> {
    const input = await this.open();
    // A line split across chunks is collected here, capped at maxLineBytes; the excess is only counted.
    const parts: Buffer[] = [];
    let partsLen = 0;
    let dropped = 0;
    const append = (part: Buffer): void => {
      const room = this.maxLineBytes - partsLen;
      if (part.length <= room) {
        parts.push(part);
        partsLen += part.length;
      } else {
        if (room > 0) {
          parts.push(part.subarray(0, room));
          partsLen += room;
        }
        dropped += part.length - Math.max(room, 0);
      }
    };
    try {
      for await (const chunk of input as AsyncIterable<Buffer>) {
        let pos = 0;
        for (;;) {
          const nl = chunk.indexOf(NL, pos);
          if (nl === -1) {
            if (pos < chunk.length) append(chunk.subarray(pos));
            break;
          }
          let line: Buffer;
          if (partsLen === 0 && dropped === 0) {
            line = chunk.subarray(pos, nl);
          } else {
            append(chunk.subarray(pos, nl));
            line = parts.length === 1 ? parts[0]! : Buffer.concat(parts, partsLen);
          }
          const extra = dropped;
          parts.length = 0;
          partsLen = 0;
          dropped = 0;
          pos = nl + 1;
          const out = this.emit(line, extra);
          if (out !== null) yield out;
        }
      }
    } catch (e) {
      if (e instanceof KlinestreamError) throw e;
      const what = this.gzip ? `gzip data is corrupt or truncated after line ${this.lines}` : `read failed after line ${this.lines}`;
      throw unreadable(this.path, what, e, { line: this.lines });
    }
    if (partsLen > 0 || dropped > 0) {
      // Last line without a trailing newline.
      const extra = dropped;
      const line = parts.length === 1 ? parts[0]! : Buffer.concat(parts, partsLen);
      parts.length = 0;
      const out = this.emit(line, extra);
      if (out !== null) yield out;
    }
  }

  private async open(): Promise<Readable> {
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(this.path, 'r');
    } catch (e) {
      throw unreadable(this.path, 'cannot open', e);
    }
    let raw: Readable;
    try {
      const head = Buffer.alloc(2);
      const { bytesRead } = await fh.read(head, 0, 2, 0);
      this.gzip = bytesRead === 2 && head[0] === GZIP_MAGIC_0 && head[1] === GZIP_MAGIC_1;
      // autoClose (the default) closes the handle when the stream ends or is destroyed, also on early break.
      raw = fh.createReadStream({ start: 0, highWaterMark: READ_CHUNK_BYTES });
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw unreadable(this.path, 'cannot read', e);
    }
    if (!this.gzip) return raw;
    // pipeline forwards a read error into the gunzip stream (so the iteration throws it) and destroys the
    // file stream when the consumer stops early; the error itself is reported by the iteration.
    return pipeline(raw, zlib.createGunzip(), () => undefined);
  }

  private emit(line: Buffer, dropped: number): FrameLine | null {
    const lineNo = ++this.lines;
    let start = 0;
    let end = line.length;
    // A UTF-8 byte-order mark some editors put at the start of a text file.
    if (lineNo === 1 && end >= 3 && line[0] === 0xef && line[1] === 0xbb && line[2] === 0xbf) start = 3;
    while (start < end && isBlank(line[start])) start++;
    while (end > start && isBlank(line[end - 1])) end--;
    const total = line.length + dropped;
    if (total > this.maxLineBytes) {
      return { lineNo, frame: line.subarray(start, Math.min(end, start + OVERSIZE_HEAD_BYTES)), oversizeBytes: total };
    }
    if (start === end) {
      this.blankLines++;
      return null;
    }
    if (line[start] === LOWER_W && HEADER_LINE.test(line.toString('latin1', start, end))) {
      this.headerLines++;
      return null;
    }
    return { lineNo, frame: line.subarray(frameStart(line, start, end), end), oversizeBytes: 0 };
  }
}

/**
 * Every aggTrade of a frames file, in file order, counting everything else into `stats` (and the skipped
 * blank and header lines, when iteration ends). With `times`, a trade whose time is implausible is counted as
 * malformed with its reason and not yielded. Yields the same record object each time, refilled: use it
 * before asking for the next one.
 */
export async function* readAggTrades(path: string, stats: FrameStats, options: FrameFileOptions & { times?: TradeTimeCheck } = {}): AsyncGenerator<AggTradeRecord> {
  const reader = new FrameFileReader(path, options);
  const parser = new AggTradeFrameParser();
  const out = createAggTradeRecord();
  const limit = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const times = options.times;
  try {
    for await (const line of reader) {
      let result = line.oversizeBytes > 0
        ? parser.reject(`line is ${line.oversizeBytes} bytes, over the ${limit}-byte limit for one frame`)
        : parser.parse(line.frame, out);
      // An implausible time makes the frame bad input like any malformed one (docs/times.md); the check
      // converts the times of a microsecond file to ms.
      if (result === FrameResult.OK && times !== undefined && times.check(out, NaN) !== TIME_OK) result = parser.reject(times.reason);
      stats.record(result, line.lineNo, parser, line.frame);
      if (result === FrameResult.OK) yield out;
    }
  } finally {
    stats.blankLines += reader.blankLines;
    stats.headerLines += reader.headerLines;
  }
}

export type FrameSource = { kind: 'binance' } | { kind: 'file'; path: string };

const SOURCE_USAGE = 'binance (live exchange) or file:PATH (recorded frames, one per line, optionally gzipped)';

/** `--source file:PATH` (or `file:///abs/path`) for commands that only read files, e.g. `aggregate`. */
export function parseFileSource(raw: string | undefined, command: string): string {
  if (raw === undefined || raw === '') throw new UsageError(`${command}: --source file:PATH is required`);
  if (!raw.startsWith('file:')) {
    throw new UsageError(`${command}: --source must be file:PATH (recorded frames, one per line, optionally gzipped), got ${JSON.stringify(raw)}`);
  }
  let path = raw.slice('file:'.length);
  if (path.startsWith('//')) {
    try {
      path = fileURLToPath(raw);
    } catch (e) {
      throw new UsageError(`${command}: --source ${JSON.stringify(raw)} is not a valid file URL: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (path === '') throw new UsageError(`${command}: --source file: needs a path after "file:", e.g. file:data/frames.jsonl.gz`);
  return path;
}

/** `--source binance | file:PATH` for `produce`. */
export function parseSource(raw: string | undefined, command: string): FrameSource {
  if (raw === undefined || raw === '') throw new UsageError(`${command}: --source is required: ${SOURCE_USAGE}`);
  if (raw === 'binance') return { kind: 'binance' };
  if (raw.startsWith('file:')) return { kind: 'file', path: parseFileSource(raw, command) };
  throw new UsageError(`${command}: --source must be ${SOURCE_USAGE}, got ${JSON.stringify(raw)}`);
}
