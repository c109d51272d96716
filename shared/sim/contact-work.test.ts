/**
 * Contacts in answers carry the key and id nonce that make each id (dht/contacts.ts): an honest
 * node names only keys its channels proved, so a neighbour that answers directly with one whose
 * work fails lied, and loses its channel.
 */
import { describe, expect, it } from 'vitest';
import { nodeIdFromSigningKey } from '../lib/id.ts';
import { fromBase64Url } from '../lib/encoding.ts';
import { Simulation } from './simulation.ts';

describe('a neighbour that names an id without its work', () => {
  it('loses its channel, and the contact is dropped and counted', { timeout: 60_000 }, async () => {
    const sim = new Simulation({ seed: 43 });
    await sim.grow(12);
    const a = sim.randomLive();
    const liar = a.node.closestTo(a.node.id, 2)[1]!;
    const liarNode = sim.live.get(liar.hex)!;
    // Its FIND_NODE answers name its own key with a nonce that lacks the work.
    const own = liarNode.node.selfContact;
    let n = 0;
    while (nodeIdFromSigningKey(fromBase64Url(own.key)!, n) !== null) n++;
    liarNode.node.handle('FIND_NODE', async () => ({ nodes: [{ key: own.key, n }] }));
    const closed = a.node.stats.get('channel-lost-closed-by-us');
    await sim.until(a.node.maintenance.checkNear());
    expect(a.node.stats.get('contact-drop-bad-work')).toBe(1);
    expect(a.node.stats.get('peer-dropped-bad-contacts')).toBe(1);
    expect(a.node.stats.get('channel-lost-closed-by-us')).toBe(closed + 1);
    sim.close();
  });
});
