import { StateChoice } from '../../src/worker/restore';
import { encodeStateRecord, readStateStamp } from '../../src/worker/state-record';

const record = (epoch: number, offset: number, marker: number): Buffer =>
  encodeStateRecord('1m', 4, epoch, 2, offset, Float64Array.of(marker, marker), 0, 2);

const chosen = (c: StateChoice) => [...c.entries()].map(([k, v]) => [k, v.stamp.placementEpoch, v.stamp.inputOffset, v.value.readDoubleLE(v.value.length - 8)]);

describe('StateChoice (restore step 4)', () => {
  it('keeps the newest state by its stamp, not the last one in log order', () => {
    const c = new StateChoice();
    c.offer('BTCUSDT', record(0, 100, 1));
    c.offer('BTCUSDT', record(0, 250, 2));
    c.offer('BTCUSDT', record(0, 180, 3)); // a writer that lost the partition, appending an older state late
    expect(chosen(c)).toEqual([['BTCUSDT', 0, 250, 2]]);
  });

  it('a higher placement epoch wins over a higher offset, equal stamps go by log order', () => {
    const c = new StateChoice();
    c.offer('ETHUSDT', record(1, 10, 1));
    c.offer('ETHUSDT', record(0, 900, 2));
    expect(chosen(c)).toEqual([['ETHUSDT', 1, 10, 1]]);
    c.offer('ETHUSDT', record(1, 10, 3));
    expect(chosen(c)).toEqual([['ETHUSDT', 1, 10, 3]]);
  });

  it('a tombstone clears the key; unreadable records are counted, not chosen', () => {
    const c = new StateChoice();
    c.offer('A', record(0, 5, 1));
    c.offer('A', null);
    c.offer('B', Buffer.from('not a state record'));
    expect({ size: c.size, unreadable: c.unreadable }).toEqual({ size: 0, unreadable: 1 });
  });

  it('keeps a copy: the fetch buffer a record came from may be reused', () => {
    const c = new StateChoice();
    const buf = record(0, 5, 9);
    c.offer('A', buf);
    buf.fill(0);
    expect(readStateStamp([...c.entries()][0]![1].value)?.inputOffset).toBe(5);
  });
});
