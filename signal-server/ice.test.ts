import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseServerMessage, encodeSignalMessage } from '../shared/signal/protocol.ts';
import { iceFrameFor, turnCredential, type IceConfig } from './ice.ts';

const NODE = '0123456789abcdef0123456789abcdef01234567';
const SECRET = 'north-sea-static-auth-secret';
const NOW_MS = 1_796_000_000_123;
const TURN: IceConfig = { stunUrls: ['stun:s.example:3478'], turnUrls: ['turn:t.example:3478'], turnSecret: SECRET, ttlS: 600 };

/** What coturn computes for --use-auth-secret, independently of the code under test. */
function expectedCredential(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

describe('TURN credentials', () => {
  it('are base64(HMAC-SHA1(secret, username)), as node:crypto computes it', async () => {
    const username = '1796000600:' + NODE;
    expect(await turnCredential(SECRET, username)).toBe(expectedCredential(SECRET, username));
    // A fixed known answer too, so both sides cannot drift together.
    expect(await turnCredential('key', 'The quick brown fox jumps over the lazy dog')).toBe('3nybhbi3iqa8ino29wqQcBydtNk=');
  });

  it('are minted per node with username <unix expiry seconds>:<node id> and expiry now + TTL', async () => {
    const frame = await iceFrameFor(TURN, NODE, NOW_MS);
    const expiry = Math.floor(NOW_MS / 1000) + 600;
    expect(frame).toEqual({
      type: 'ice',
      servers: [
        { urls: ['stun:s.example:3478'] },
        { urls: ['turn:t.example:3478'], username: `${expiry}:${NODE}`, credential: expectedCredential(SECRET, `${expiry}:${NODE}`) },
      ],
      ttlS: 600,
    });
    // What the server sends is what a tab accepts.
    expect(parseServerMessage(encodeSignalMessage(frame!))).toEqual({ ok: true, message: frame });
  });

  it('never put the secret in the frame', async () => {
    expect(JSON.stringify(await iceFrameFor(TURN, NODE, NOW_MS))).not.toContain(SECRET);
  });

  it('give a new username a second later', async () => {
    const first = await iceFrameFor(TURN, NODE, NOW_MS);
    const later = await iceFrameFor(TURN, NODE, NOW_MS + 1_000);
    expect(later!.servers[1]!.username).not.toBe(first!.servers[1]!.username);
  });
});

describe('the ice frame', () => {
  it('is not sent without configuration', async () => {
    expect(await iceFrameFor(undefined, NODE, NOW_MS)).toBeNull();
  });

  it('carries STUN alone without a lifetime, since STUN URLs do not expire', async () => {
    const frame = await iceFrameFor({ stunUrls: ['stun:s.example'], turnUrls: [], ttlS: 600 }, NODE, NOW_MS);
    expect(frame).toEqual({ type: 'ice', servers: [{ urls: ['stun:s.example'] }] });
  });
});
