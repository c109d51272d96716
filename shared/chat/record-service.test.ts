import { describe, expect, it } from 'vitest';
import { KademliaNode } from '../dht/node.ts';
import { FakeClock } from '../lib/clock.ts';
import { createIdentity, webCryptoOps } from '../lib/crypto.ts';
import { ErrorCode, isPeerchatError } from '../lib/errors.ts';
import { SeededRandom } from '../lib/random.ts';
import { MemoryNetwork } from '../lib/transport.ts';
import { JOIN_REREAD_DELAY_MS } from './constants.ts';
import { createRecord } from './records.ts';
import { serveChat } from './services.ts';

describe('the record service on a closing node', () => {
  it('fails a publish that waits to read its name back with CLOSED, instead of leaving it hanging', async () => {
    const clock = new FakeClock();
    const random = new SeededRandom(3);
    const identity = await createIdentity(random);
    const node = new KademliaNode({ identity, transport: new MemoryNetwork({ clock, random }).endpoint('a'), clock, random });
    const { records } = serveChat(node);
    const now = clock.now();
    const record = await createRecord(identity, webCryptoOps, { name: 'alice', registeredAt: now, seq: 1, now });
    const publishing = records.publish(record);
    // Alone, the node is the closest to the name and stores the record itself, then waits.
    // (WebCrypto verifies it off the fake clock: wait for the wait's timer, not for a time.)
    for (let i = 0; i < 2_000 && clock.pending === 0; i++) await new Promise((r) => setImmediate(r));
    expect(clock.pending).toBe(1);
    node.close();
    clock.advance(JOIN_REREAD_DELAY_MS);
    const err = await publishing.catch((e: unknown) => e);
    expect(isPeerchatError(err, ErrorCode.Closed)).toBe(true);
  });
});
