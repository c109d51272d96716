/**
 * How far a name's record and a recipient's mail spread (ARCHITECTURE.md, "Names" and
 * "Holders"): to the nodes around the key, within the radius lookers search for its holders
 * (holder-search.ts withinHolderRadius), not across the network. Ranked by its own channels
 * alone, a node far from a key ranked itself among its closest (its table has one channel per
 * far bucket), took the copy and passed it to its own channels, which judged the same way: at
 * 1,000 nodes some names were held by 366 nodes, each checking the name with a read of a few
 * dozen requests, which made the full-size offline-delivery run many times slower.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordKey } from '../chat/records.ts';
import { idToHex } from '../lib/id.ts';
import { Simulation } from './simulation.ts';
import { simUsers } from './sim-users.ts';

const NODES = 300;
const NAMES = 8;
/**
 * Holders a key may have: the nodes a holder's radius takes in, r times its slack of 2^3
 * (HOLD_SLACK_LOG2). Measured: 50 for one name at seed 21; 136 by rank alone.
 */
const MAX_HOLDERS = 64;

let sim: Simulation;
const users = simUsers(() => sim, (name) => 9_000 + Number(name.slice(5)));

beforeAll(async () => {
  sim = new Simulation({ seed: 21, churnPerHour: 0.3 });
  await sim.grow(NODES);
}, 300_000);
afterAll(() => sim.close());

/** Live nodes holding the record of `name`. */
function nameHolders(name: string): number {
  const keyHex = idToHex(recordKey(name));
  let n = 0;
  for (const s of sim.live.values()) if (s.records.get(keyHex)) n++;
  return n;
}

/** Live nodes holding the mailbox entry of message `id`. */
function mailHolders(id: string): number {
  let n = 0;
  for (const s of sim.live.values()) if (s.mailbox.holds(id)) n++;
  return n;
}

describe('holders under churn, 300 nodes', () => {
  it('a name is held only around its key, and so is mail held for an absent recipient, for half an hour of 30% churn', { timeout: 300_000 }, async () => {
    const names = Array.from({ length: NAMES }, (_, i) => `user_${i}`);
    const online = [];
    for (const name of names) online.push(await users.online(name));
    // user_1 leaves; user_0 writes to it until its holders have it.
    const [writer, away] = [online[0]!, online[1]!];
    await sim.until(writer.chat.findUser('user_1'));
    sim.leave(away.node);
    const sent = [];
    for (let i = 0; i < 3; i++) sent.push(await sim.until(writer.chat.send('user_1', `while away ${i}`)));
    expect(await users.eventually(() => writer.chat.messagesWith('user_1').every((m) => m.status === 'stored'))).toBe(true);

    const widest = { name: 0, mail: 0 };
    for (let minutes = 0; minutes < 30; minutes += 10) {
      await sim.run(10 * 60_000);
      for (const name of names) widest.name = Math.max(widest.name, nameHolders(name));
      for (const m of sent) widest.mail = Math.max(widest.mail, mailHolders(m.id));
    }
    // Every name still has holders (lookups find it), and none is held across the network.
    for (const name of names) expect(nameHolders(name), name).toBeGreaterThanOrEqual(4);
    for (const m of sent) expect(mailHolders(m.id)).toBeGreaterThanOrEqual(3);
    expect(widest.name).toBeLessThanOrEqual(MAX_HOLDERS);
    expect(widest.mail).toBeLessThanOrEqual(MAX_HOLDERS);
  });
});
