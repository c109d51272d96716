import { describe, expect, it } from 'vitest';
import { buildRing, MIN_ARC_TURN, nearArc, pointAt, RING_R, sharedPrefixBits, turnOf, type RingInput } from './ring-layout.ts';

/** A 40-hex id from its first digits, the rest zeros. */
const id = (head: string): string => head.padEnd(40, '0');
const SELF = id('4');

function input(o: Partial<RingInput> = {}): RingInput {
  return { self: SELF, peers: [], nearBits: null, mailbox: [], record: [], lookup: null, ...o };
}

describe('where an id sits on the ring', () => {
  it('puts this node at the top and an id a quarter of the id space on at the right, clockwise', () => {
    expect(turnOf(SELF, SELF)).toBe(0);
    expect(turnOf(id('8'), SELF)).toBe(0.25);
    // Behind this node: wraps round past 2^160.
    expect(turnOf(id('0'), SELF)).toBe(0.75);
    expect(pointAt(0)).toEqual({ x: 0, y: -RING_R });
    expect(pointAt(0.25)).toEqual({ x: RING_R, y: 0 });
    expect(pointAt(0.5)).toEqual({ x: 0, y: RING_R });
  });

  it('tells ids apart down to the 52nd bit and no further', () => {
    expect(turnOf(id('4000000000001'), SELF)).toBe(2 ** -52);
    expect(turnOf('4'.padEnd(13, '0') + 'f'.repeat(27), SELF)).toBe(0);
  });

  it('counts the leading bits two ids share', () => {
    expect(sharedPrefixBits(id('4'), id('c'))).toBe(0);
    expect(sharedPrefixBits(id('4'), id('5'))).toBe(3);
    expect(sharedPrefixBits(id('40'), id('48'))).toBe(4);
    expect(sharedPrefixBits(SELF, SELF)).toBe(160);
  });
});

describe('the near subtree’s arc', () => {
  it('spans the ids that share its prefix, this node inside it', () => {
    // 2 bits: ids 4… to 7…, this node at the arc's start.
    expect(nearArc(SELF, 2)).toEqual({ start: 0, end: 0.25 });
    // 1 bit: ids 0… to 7…, this node a quarter in.
    expect(nearArc(SELF, 1)).toEqual({ start: -0.25, end: 0.25 });
    // 0 bits: the whole ring, from id 0.
    expect(nearArc(SELF, 0)).toEqual({ start: -0.25, end: 0.75 });
  });

  it('is widened round this node when a dense network makes it a sliver', () => {
    expect(nearArc(SELF, 20)).toEqual({ start: -MIN_ARC_TURN / 2, end: MIN_ARC_TURN / 2 });
  });

  it('is a whole circle when the near subtree is the whole id space, and absent before there is one', () => {
    expect(buildRing(input({ nearBits: 0 })).near).toEqual({ d: '', full: true });
    expect(buildRing(input()).near).toBeNull();
    expect(buildRing(input({ nearBits: 1 })).near).toEqual({ d: `M${-RING_R} 0A${RING_R} ${RING_R} 0 0 1 ${RING_R} 0`, full: false });
  });
});

describe('the drawing', () => {
  it('has one dot per live peer, marked as near subtree, mailbox holder and name holder', () => {
    const peers = [id('5'), id('6'), id('c')];
    const ring = buildRing(input({ peers, nearBits: 2, mailbox: [id('5'), id('6')], record: [id('c'), SELF] }));
    expect(ring.dots.map((d) => [d.hex, d.near, d.mailbox, d.record])).toEqual([
      [id('5'), true, true, false],
      [id('6'), true, true, false],
      [id('c'), false, false, true],
    ]);
    expect(ring.self.record).toBe(true);
    expect(ring.summary).toBe('The 160-bit id ring, this node at the top: 3 live peers, 2 in its near subtree, 2 mailbox holders, 2 name holders.');
  });

  it('draws each lookup path from this node hop to hop, numbered, with its time or that it got no answer', () => {
    const lookup = {
      key: id('a'),
      hops: [
        { path: 0, hop: 1, hex: id('8'), ms: 12, outcome: 'answered' as const },
        { path: 0, hop: 2, hex: id('c'), ms: 40, outcome: 'answered' as const },
        { path: 1, hop: 1, hex: id('0'), ms: 4000, outcome: 'timeout' as const },
      ],
    };
    const ring = buildRing(input({ lookup }));
    expect(ring.hops.map((h) => [h.path, h.from, h.to, h.label, h.ok])).toEqual([
      [0, pointAt(0), pointAt(0.25), '1 · 12 ms', true],
      [0, pointAt(0.25), pointAt(0.5), '2 · 40 ms', true],
      [1, pointAt(0), pointAt(0.75), '1 · no answer', false],
    ]);
    expect(ring.key).toEqual(pointAt(turnOf(id('a'), SELF)));
    expect(ring.summary).toMatch(/Last lookup: 3 hops over 2 paths\.$/);
  });
});
