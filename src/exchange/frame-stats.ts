/**
 * Counts of what a frame source delivered, for the one-line summary that `aggregate` and the producer print
 * (SPEC 4.5: bad input is never dropped silently). Keeps the first few malformed frames with their position
 * and reason so the summary shows *what* was wrong, not just how often; memory stays bounded.
 */
import { FrameResult, type AggTradeFrameParser } from './aggtrade-frame';

export interface MalformedExample {
  /** 1-based line number in a file, or the frame's sequence number on a connection. */
  lineNo: number;
  reason: string;
  /** The start of the frame text, for the log. */
  text: string;
}

const EXAMPLE_TEXT_CHARS = 200;
/** Kinds come from the input (`"e"` values): cap how many are told apart so hostile input cannot grow the map. */
const MAX_KINDS = 32;
const OVERFLOW_KIND = '(more kinds)';

export class FrameStats {
  ok = 0;
  notAggTrade = 0;
  malformed = 0;
  /** File sources only: blank lines and recorder header lines (`wss://... <-> time`) that were skipped. */
  blankLines = 0;
  headerLines = 0;
  /** NOT_AGGTRADE frames by kind (`kline`, `depthUpdate`, `reply`, ...). */
  readonly otherKinds = new Map<string, number>();
  readonly examples: MalformedExample[] = [];

  constructor(readonly maxExamples = 5) {}

  get frames(): number {
    return this.ok + this.notAggTrade + this.malformed;
  }

  /** Counts one parse result; returns it unchanged so a loop can test it in the same expression. */
  record(result: FrameResult, lineNo: number, parser: AggTradeFrameParser, frame: string | Uint8Array): FrameResult {
    if (result === FrameResult.OK) {
      this.ok++;
    } else if (result === FrameResult.NOT_AGGTRADE) {
      this.notAggTrade++;
      let kind = parser.kind;
      if (!this.otherKinds.has(kind) && this.otherKinds.size >= MAX_KINDS) kind = OVERFLOW_KIND;
      this.otherKinds.set(kind, (this.otherKinds.get(kind) ?? 0) + 1);
    } else {
      this.malformed++;
      if (this.examples.length < this.maxExamples) {
        this.examples.push({ lineNo, reason: parser.reason, text: excerpt(frame) });
      }
    }
    return result;
  }

  /** Human-readable summary, e.g. `12934 aggTrade frames, 118 other frames (kline 118), 0 malformed; skipped 1 header line`. */
  summary(): string {
    let s = `${this.ok} aggTrade frames, ${this.notAggTrade} other frames`;
    if (this.otherKinds.size > 0) {
      s += ` (${[...this.otherKinds].map(([k, n]) => `${k} ${n}`).join(', ')})`;
    }
    s += `, ${this.malformed} malformed`;
    const skipped: string[] = [];
    if (this.headerLines > 0) skipped.push(`${this.headerLines} header line${this.headerLines === 1 ? '' : 's'}`);
    if (this.blankLines > 0) skipped.push(`${this.blankLines} blank line${this.blankLines === 1 ? '' : 's'}`);
    if (skipped.length > 0) s += `; skipped ${skipped.join(', ')}`;
    for (const ex of this.examples) s += `\n  line ${ex.lineNo}: ${ex.reason}: ${ex.text}`;
    if (this.malformed > this.examples.length) s += `\n  ... and ${this.malformed - this.examples.length} more malformed`;
    return s;
  }

  /** Plain fields for a structured log record. */
  toJSON(): Record<string, unknown> {
    return {
      ok: this.ok,
      notAggTrade: this.notAggTrade,
      malformed: this.malformed,
      blankLines: this.blankLines,
      headerLines: this.headerLines,
      otherKinds: Object.fromEntries(this.otherKinds),
      examples: this.examples,
    };
  }
}

function excerpt(frame: string | Uint8Array): string {
  let text: string;
  let cut: boolean;
  if (typeof frame === 'string') {
    cut = frame.length > EXAMPLE_TEXT_CHARS;
    text = cut ? frame.slice(0, EXAMPLE_TEXT_CHARS) : frame;
  } else {
    const n = Math.min(frame.length, EXAMPLE_TEXT_CHARS);
    cut = frame.length > n;
    // Lenient decoding on purpose: this is only for showing the bytes, invalid UTF-8 included.
    text = Buffer.from(frame.buffer, frame.byteOffset, n).toString('utf8');
  }
  // Control characters would garble a terminal or a log line: show them escaped.
  // eslint-disable-next-line no-control-regex
  text = text.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return cut ? text + '...' : text;
}
