/**
 * How `klinestream run` shows its children's output: every line gets the child's name. On a terminal, the
 * children's JSON log records become short human lines (`12:30:01 worker-1 | info  partitions assigned
 * partitions=[0,1,2]`); elsewhere (a pipe, a file, docker logs) every line stays one JSON object, with a
 * `proc` field naming the child, and plain text lines are wrapped into such objects.
 */

export interface LineFormatter {
  /** One output line (without newline) for one input line of child `name`. */
  format(name: string, line: string, stream: 'stdout' | 'stderr'): string;
}

const SKIP = new Set(['time', 'level', 'msg', 'cmd', 'command', 'pid', 'proc']);
const MAX_VALUE = 160;
const COLORS = [36, 35, 32, 34, 33, 96, 95, 92];
const LEVEL_COLOR: Record<string, number> = { debug: 90, info: 0, warn: 33, error: 31 };

function value(v: unknown): string {
  let s: string;
  if (typeof v === 'string') s = /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  else if (v === null || v === undefined) s = String(v);
  else if (typeof v === 'object') {
    const o = v as { message?: unknown; name?: unknown };
    s = typeof o.message === 'string' && typeof o.name === 'string' ? JSON.stringify(o.message) : JSON.stringify(v);
  } else s = String(v);
  return s.length > MAX_VALUE ? s.slice(0, MAX_VALUE) + '...' : s;
}

function clock(time: unknown): string {
  const d = typeof time === 'string' ? new Date(time) : new Date();
  return Number.isNaN(d.getTime()) ? new Date().toTimeString().slice(0, 8) : d.toTimeString().slice(0, 8);
}

export class HumanFormatter implements LineFormatter {
  private readonly colorOf = new Map<string, number>();

  constructor(private readonly width = 8, private readonly color = true) {}

  private paint(code: number, s: string): string {
    return this.color && code !== 0 ? `\x1b[${code}m${s}\x1b[0m` : s;
  }

  format(name: string, line: string): string {
    if (!this.colorOf.has(name)) this.colorOf.set(name, COLORS[this.colorOf.size % COLORS.length]!);
    const tag = this.paint(this.colorOf.get(name)!, name.padEnd(this.width));
    let record: Record<string, unknown> | undefined;
    if (line.startsWith('{')) {
      try {
        const parsed: unknown = JSON.parse(line);
        if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { msg?: unknown }).msg === 'string') record = parsed as Record<string, unknown>;
      } catch {
        record = undefined;
      }
    }
    if (record === undefined) return `${new Date().toTimeString().slice(0, 8)} ${tag} | ${line}`;
    const level = typeof record.level === 'string' ? record.level : 'info';
    const fields = Object.entries(record).filter(([k]) => !SKIP.has(k)).map(([k, v]) => `${k}=${value(v)}`);
    const head = `${this.paint(LEVEL_COLOR[level] ?? 0, level.padEnd(5))} ${record.msg as string}`;
    return `${clock(record.time)} ${tag} | ${head}${fields.length > 0 ? '  ' + this.paint(90, fields.join(' ')) : ''}`;
  }
}

export class JsonFormatter implements LineFormatter {
  format(name: string, line: string, stream: 'stdout' | 'stderr'): string {
    if (line.startsWith('{') && line.endsWith('}')) {
      try {
        JSON.parse(line);
        return `{"proc":${JSON.stringify(name)},${line.slice(1)}`;
      } catch {
        // not JSON after all: wrapped below
      }
    }
    return JSON.stringify({ time: new Date().toISOString(), level: stream === 'stderr' ? 'info' : 'info', msg: line, proc: name });
  }
}

/** Splits a byte stream into lines and hands each complete one to `onLine` (the rest at end()). */
export class LineSplitter {
  private rest = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer | string): void {
    const text = this.rest + chunk.toString();
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    for (const l of lines) this.onLine(l.replace(/\r$/, ''));
    if (this.rest.length > 1 << 20) {
      this.onLine(this.rest);
      this.rest = '';
    }
  }

  end(): void {
    if (this.rest !== '') this.onLine(this.rest);
    this.rest = '';
  }
}
