/**
 * Messages for a stack service or tool that failed to start. They carry the last lines of its output in
 * themselves: the log file they came from may be gone by the time anyone reads the message (CI deletes
 * a private stack's directory with the test run), so "see kafka.log" alone would point nowhere.
 */
import * as fs from 'node:fs';

/** How many lines of output a failure message carries. */
export const TAIL_LINES = 20;
/** A single line longer than this (a JVM's classpath dump, a base64 blob) is cut, so messages stay readable. */
export const TAIL_LINE_CHARS = 500;
/** At most this much of the end of a log file is read for its tail. */
const TAIL_READ_BYTES = 64 * 1024;

/** The last `lines` lines of `text` (trailing blank lines dropped), each cut to TAIL_LINE_CHARS. */
export function lastLines(text: string, lines = TAIL_LINES): string[] {
  const all = text.replace(/\r\n?/g, '\n').replace(/\s+$/, '').split('\n');
  if (all.length === 1 && all[0] === '') return [];
  return all.slice(-lines).map((l) => (l.length > TAIL_LINE_CHARS ? `${l.slice(0, TAIL_LINE_CHARS)} [... ${l.length - TAIL_LINE_CHARS} more characters]` : l));
}

/**
 * `summary`, then the tail of the output under a header that names where the whole output was written:
 *
 *     formatting Kafka storage failed (exit code 1)
 *     --- last 2 lines of its output (also in /c/logs/kafka.log) ---
 *     usage: kafka-storage format [-h] --config CONFIG --cluster-id CLUSTER_ID
 *     kafka-storage: error: argument --cluster-id/-t: expected one argument
 */
export function failureMessage(summary: string, output: string, logFile: string, lines = TAIL_LINES): string {
  const tail = lastLines(output, lines);
  if (tail.length === 0) return `${summary}\n--- it wrote no output (to ${logFile}) ---`;
  const count = tail.length === 1 ? 'last line' : `last ${tail.length} lines`;
  return `${summary}\n--- ${count} of its output (also in ${logFile}) ---\n${tail.join('\n')}`;
}

/** How a child process ended, for messages: `exit code 1`, `signal SIGKILL`. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (code !== null) return `exit code ${code}`;
  if (signal !== null) return `signal ${signal}`;
  return 'unknown exit';
}

/** What a file holds from byte `from` on (its end only when large); '' when it cannot be read. */
export function readLogFrom(file: string, from = 0): string {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const start = Math.max(from, size - TAIL_READ_BYTES);
    if (start >= size) return '';
    const buf = Buffer.alloc(size - start);
    fs.readSync(fd, buf, 0, buf.length, start);
    return buf.toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The size of a file, 0 when missing: where output appended from now on will begin. */
export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
