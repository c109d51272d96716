import { afterAll, describe, expect, it } from 'vitest';
import { MAX_CHAT_CHANNELS } from '../dht/constants.ts';
import { ErrorCode, isPeerchatError } from '../lib/errors.ts';
import { Simulation } from './simulation.ts';

let sim: Simulation;
afterAll(() => sim?.close());

describe('direct channels to chat partners', () => {
  it(`a node opens at most ${MAX_CHAT_CHANNELS} of them; the next partner is refused at once`, async () => {
    sim = new Simulation({ seed: 611 });
    const nodes = await sim.grow(60);
    const me = nodes[0]!.node;
    const strangers = nodes.slice(1).map((s) => s.node.hex).filter((hex) => !me.channels.peers.has(hex));
    expect(strangers.length).toBeGreaterThan(MAX_CHAT_CHANNELS);
    const dials = strangers.slice(0, MAX_CHAT_CHANNELS).map((hex) => me.channels.dial(hex, me.overlayPath(hex), 'chat'));
    const extra = strangers[MAX_CHAT_CHANNELS]!;
    await expect(me.channels.dial(extra, me.overlayPath(extra), 'chat')).rejects.toSatisfy((err: unknown) => isPeerchatError(err, ErrorCode.Busy));
    const opened = await sim.until(Promise.all(dials));
    expect(opened.map((p) => p.kind)).toEqual(Array(MAX_CHAT_CHANNELS).fill('chat'));
    // DHT channels are not held back by chat partners.
    await expect(sim.until(me.channels.dial(extra, me.overlayPath(extra), 'dht'))).resolves.toMatchObject({ kind: 'dht' });
  });
});
