import { describe, expect, it } from 'vitest';
import { ID_BYTES, compareDistance, idFromHex, idToHex, randomIdInBucket, type NodeId } from '../lib/id.ts';
import { SeededRandom } from '../lib/random.ts';
import { planDials, type DialPlanInput } from './dial-plan.ts';
import { RoutingTable } from './routing-table.ts';

const random = new SeededRandom(7);
const self = random.bytes(ID_BYTES);
const selfHex = idToHex(self);
const inBucket = (i: number): NodeId => randomIdInBucket(self, i, random.bytes(ID_BYTES));
const hexIn = (i: number): string => idToHex(inBucket(i));

function plan(table: RoutingTable, candidates: string[], more: Partial<DialPlanInput> = {}) {
  return planDials({
    self,
    selfHex,
    replication: 4,
    farChannelsPerBucket: 1,
    table,
    candidates,
    busy: () => false,
    backedOff: () => false,
    farDialing: [],
    ...more,
  });
}

describe('planDials', () => {
  it('dials every candidate of the near subtree, nearest first', () => {
    const table = new RoutingTable(self);
    const near = [hexIn(2), hexIn(0), hexIn(1)];
    const result = plan(table, near);
    expect(result.near).toEqual([near[1], near[2], near[0]]);
    expect(result.far).toEqual([]);
  });

  it('counts the candidates into the near subtree\'s boundary, so what falls beyond it is far', () => {
    const table = new RoutingTable(self);
    for (const b of [0, 1]) table.add(inBucket(b), 0);
    // By the table alone the near subtree ends at bucket 1; with these two it reaches r = 4 at 6.
    const near = [hexIn(5), hexIn(6)];
    const far = [hexIn(100), hexIn(100), hexIn(120)];
    const result = plan(table, [...far, ...near]);
    expect(result.near).toEqual(near);
    expect(result.far.map((f) => f.bucket)).toEqual([100, 120]);
    const nearestFirst = far.slice(0, 2).sort((a, b) => compareDistance(self, idFromHex(a)!, idFromHex(b)!));
    expect(result.far[0]!.candidates.map((c) => c.hex)).toEqual(nearestFirst);
  });

  it('named ids nearer than a full table\'s near subtree do not shrink it: its proven nodes stay near', () => {
    // Ids named in answers are unproven: a liar grinds made-up ones deep in a victim's subtree.
    // Were they counted into the boundary, the victim's real near nodes would fall outside it
    // and be dialed as far ones (one per bucket, paced), or not at all.
    const table = new RoutingTable(self);
    for (const b of [5, 6, 7, 8]) {
      const id = inBucket(b);
      table.add(id, 0);
      table.setConnected(idToHex(id), true);
    }
    const madeUp = [hexIn(0), hexIn(1), hexIn(2), hexIn(3)];
    const realNear = hexIn(8);
    const result = plan(table, [...madeUp, realNear]);
    expect(result.near).toEqual([...madeUp, realNear]);
    expect(result.far).toEqual([]);
  });

  it('plans nothing for itself, duplicates, garbage, open or connecting peers and backed-off ones', () => {
    const table = new RoutingTable(self);
    const [open, backedOff, good] = [hexIn(1), hexIn(2), hexIn(3)];
    const result = plan(table, [selfHex, 'not hex', good, good, open, backedOff], {
      busy: (hex) => hex === open,
      backedOff: (hex) => hex === backedOff,
    });
    expect(result.near).toEqual([good]);
  });

  it('leaves far buckets alone that already have a channel or a dial in progress', () => {
    const table = new RoutingTable(self);
    for (const b of [0, 1, 2, 3]) table.add(inBucket(b), 0);
    const connected = inBucket(90);
    table.add(connected, 0);
    table.setConnected(idToHex(connected), true);
    const result = plan(table, [hexIn(90), hexIn(91), hexIn(92)], { farDialing: [91] });
    expect(result.far.map((f) => f.bucket)).toEqual([92]);
  });
});
