import { HumanFormatter, JsonFormatter, LineSplitter } from '../../src/run/log-format';

describe('run log lines', () => {
  const record = JSON.stringify({ time: '2026-01-01T12:30:01.000Z', level: 'warn', msg: 'flush failed', cmd: 'work', pid: 1, retryInMs: 500, error: { name: 'Error', message: 'broker down' } });

  it('on a terminal: short human text, prefixed by the child name', () => {
    const line = new HumanFormatter(8, false).format('worker-1', record);
    expect(line).toMatch(/^\d\d:\d\d:\d\d worker-1 \| warn {2}flush failed {2}retryInMs=500 error="broker down"$/);
    expect(new HumanFormatter(8, false).format('producer', 'produce: 5 trades written')).toMatch(/producer \| produce: 5 trades written$/);
  });

  it('elsewhere: one JSON object per line, naming the child', () => {
    const f = new JsonFormatter();
    expect(JSON.parse(f.format('worker-1', record, 'stderr'))).toMatchObject({ proc: 'worker-1', msg: 'flush failed', retryInMs: 500 });
    expect(JSON.parse(f.format('producer', 'plain text', 'stderr'))).toMatchObject({ proc: 'producer', msg: 'plain text', level: 'info' });
  });

  it('splits chunks into lines', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    s.push('a\nb');
    s.push('c\r\nd');
    s.end();
    expect(lines).toEqual(['a', 'bc', 'd']);
  });
});
