import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeExit, failureMessage, fileSize, lastLines, readLogFrom, TAIL_LINE_CHARS, TAIL_LINES } from '../../src/stack/failure';

describe('failureMessage', () => {
  it('carries the tail of the output in the message itself, naming where the whole output went', () => {
    const output = [
      'usage: kafka-storage format [-h] --config CONFIG --cluster-id CLUSTER_ID',
      'kafka-storage: error: argument --cluster-id/-t: expected one argument',
      '',
    ].join('\n');
    expect(failureMessage('formatting Kafka storage failed (exit code 1)', output, '/c/logs/kafka.log')).toBe([
      'formatting Kafka storage failed (exit code 1)',
      '--- last 2 lines of its output (also in /c/logs/kafka.log) ---',
      'usage: kafka-storage format [-h] --config CONFIG --cluster-id CLUSTER_ID',
      'kafka-storage: error: argument --cluster-id/-t: expected one argument',
    ].join('\n'));
  });

  it('keeps the last lines only', () => {
    const output = Array.from({ length: 100 }, (_, i) => `line ${i + 1}`).join('\n') + '\n\n';
    const message = failureMessage('kafka exited during startup (exit code 1)', output, '/c/logs/kafka.log');
    const lines = message.split('\n');
    expect(lines[1]).toBe(`--- last ${TAIL_LINES} lines of its output (also in /c/logs/kafka.log) ---`);
    expect(lines.slice(2)).toEqual(Array.from({ length: TAIL_LINES }, (_, i) => `line ${100 - TAIL_LINES + i + 1}`));
    expect(failureMessage('x', 'only\n', '/l')).toBe('x\n--- last line of its output (also in /l) ---\nonly');
  });

  it('says so when there was no output at all', () => {
    expect(failureMessage('kafka exited during startup (signal SIGKILL)', ' \n\n', '/c/logs/kafka.log'))
      .toBe('kafka exited during startup (signal SIGKILL)\n--- it wrote no output (to /c/logs/kafka.log) ---');
  });

  it('cuts very long lines and reads CRLF output as lines', () => {
    expect(lastLines('a\r\nb\r\n')).toEqual(['a', 'b']);
    const [cut] = lastLines('x'.repeat(TAIL_LINE_CHARS + 7));
    expect(cut).toBe(`${'x'.repeat(TAIL_LINE_CHARS)} [... 7 more characters]`);
  });
});

describe('describeExit', () => {
  it('names the exit code, else the signal', () => {
    expect(describeExit(1, null)).toBe('exit code 1');
    expect(describeExit(null, 'SIGKILL')).toBe('signal SIGKILL');
    expect(describeExit(null, null)).toBe('unknown exit');
  });
});

describe('readLogFrom', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-failure-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads what was appended after an offset, and nothing from a missing file', () => {
    const file = path.join(dir, 'kafka.log');
    expect(fileSize(file)).toBe(0);
    expect(readLogFrom(file)).toBe('');
    fs.writeFileSync(file, 'older run\n');
    const from = fileSize(file);
    fs.appendFileSync(file, 'this run\n');
    expect(readLogFrom(file, from)).toBe('this run\n');
    expect(readLogFrom(file)).toBe('older run\nthis run\n');
    expect(readLogFrom(file, fileSize(file))).toBe('');
  });
});
