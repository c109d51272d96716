/**
 * The signal-server fuzzer's frames over real sockets on loopback (fuzz.test.ts drives the hub
 * through stand-in sockets, which skip ws itself): the ws layer's own refusals (too large,
 * binary, invalid UTF-8) and the hub's, before and after the welcome, and then an honest tab.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createIdentity } from '../shared/lib/crypto.ts';
import { SeededRandom } from '../shared/lib/random.ts';
import { asText, ExceptionTrap, randomText, shaped } from '../shared/sim/fuzz-gen.ts';
import { nodeCryptoOps } from '../shared/sim/node-crypto-ops.ts';
import { createSignalServer, type SignalServer } from './server.ts';
import { joined, TestClient } from './test-client.ts';
import { samplePayload } from '../shared/signal/test-signals.ts';

const FRAMES = 150;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let server: SignalServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('the signal server fed hostile frames over loopback', () => {
  it(`takes ${FRAMES} random and shaped frames on real sockets, before and after the welcome, and still welcomes a tab`, async () => {
    const trap = new ExceptionTrap();
    trap.install();
    try {
      server = createSignalServer({ port: 0, random: new SeededRandom(1), ops: nodeCryptoOps });
      await server.ready;
      const identity = await createIdentity(new SeededRandom(2));
      const to = 'a'.repeat(40);
      const shapes = [{ type: 'peers', n: 3 }, { type: 'signal', to, rid: 1, payload: samplePayload() }, { type: 'ping' }];
      const frames = fc.sample(fc.oneof(randomText(), ...shapes.map((s) => asText(shaped(s)))), { numRuns: FRAMES, seed: 14 });
      for (const [i, frame] of frames.entries()) {
        const client = TestClient.connect(server.url);
        if (i % 2 === 1) {
          await client.hello(identity);
          await client.next('welcome');
        } else await client.next('challenge');
        // Now and then a binary frame, or a text frame that is not UTF-8: ws refuses those itself.
        if (i % 25 === 0) client.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
        else client.ws.send(frame, { binary: i % 25 === 12 });
        await Promise.race([client.closed, sleep(50)]);
        client.ws.terminate();
        await client.closed;
      }
      const tab = await joined(server.url, identity);
      tab.send({ type: 'peers', n: 8 });
      expect((await tab.next('peers')).ids).toEqual([]);
      tab.ws.terminate();
      expect(trap.samples).toEqual([]);
      const rejects = server.stats().rejects;
      for (const reason of ['bad-shape', 'not-json', 'too-large', 'not-text', 'socket-error']) expect(rejects[reason], reason).toBeGreaterThan(0);
    } finally {
      trap.uninstall();
    }
  }, 60_000);
});
