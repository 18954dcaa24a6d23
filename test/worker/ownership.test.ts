import { ENDED, Ownerships, READY, RESTORING } from '../../src/worker/ownership';

describe('Ownerships', () => {
  it('gives every assignment, reassignment and rewind a new epoch, and ends the old one at once', () => {
    const o = new Ownerships();
    const a = o.assign(3);
    expect(a.status).toBe(RESTORING);
    a.status = READY;
    const b = o.assign(3); // assigned again (e.g. rejoined under a new member id)
    expect(b.epoch).not.toBe(a.epoch);
    expect(a.current).toBe(false);
    expect(a.status).toBe(ENDED);
    expect(o.current(3)).toBe(b);
    b.status = READY;
    b.committed = 120;
    b.firstSeen = 7;
    const c = o.rewind(b)!;
    expect(c.epoch).toBeGreaterThan(b.epoch);
    expect({ current: b.current, status: c.status, committed: c.committed, firstSeen: c.firstSeen, reason: c.reason }).toEqual({
      current: false, status: RESTORING, committed: 120, firstSeen: 7, reason: 'rewound',
    });
    expect(o.ended).toEqual([a, b]);
  });

  it('a rewind of an ownership that already ended does nothing (its successor stays)', () => {
    const o = new Ownerships();
    const a = o.assign(0);
    const b = o.assign(0);
    expect(o.rewind(a)).toBeUndefined();
    expect(o.current(0)).toBe(b);
    expect(b.current).toBe(true);
  });

  it('revocation is synchronous: not ready, not current, gone from the partitions', () => {
    const o = new Ownerships();
    const a = o.assign(1);
    a.status = READY;
    o.assign(2);
    expect(o.revoke(1)).toBe(a);
    expect({ ready: a.ready, current: a.current, partitions: o.partitions(), size: o.size }).toEqual({ ready: false, current: false, partitions: [2], size: 1 });
    expect(o.revoke(1)).toBeUndefined();
  });

  it("a symbol group is current only for the READY ownership that claimed it; an ended one's group is stale", () => {
    const o = new Ownerships();
    const a = o.assign(5);
    o.claimGroup(a);
    expect(o.groupIsCurrent(5)).toBe(false); // still restoring
    a.status = READY;
    expect(o.groupIsCurrent(5)).toBe(true);
    expect(o.staleGroups()).toEqual([]);
    const b = o.assign(5); // revoked and assigned back: the state a populated must not be used
    expect(o.groupIsCurrent(5)).toBe(false);
    expect(o.staleGroups()).toEqual([5]);
    b.status = READY;
    expect(o.groupIsCurrent(5)).toBe(false); // b has not restored (claimed) the group
    o.groupDropped(5);
    o.claimGroup(b);
    expect(o.groupIsCurrent(5)).toBe(true);
    o.revoke(5);
    expect(o.staleGroups()).toEqual([5]);
  });
});
