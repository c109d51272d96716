import { describe, expect, it } from 'vitest';
import { COLD_START_NOTICE_MS, shareLink, waitingForOthers, type ColdStartInput } from './cold-start.ts';

const first: ColdStartInput = { joined: true, signal: 'ready', peers: 0, aloneMs: COLD_START_NOTICE_MS, attempts: 0 };

describe('the cold-start notice', () => {
  it('shows for a joined tab alone a second with the server up and no attempt either way', () => {
    expect(waitingForOthers(first)).toBe(true);
    expect(waitingForOthers({ ...first, aloneMs: 60 * 60_000 })).toBe(true);
  });

  it('does not show once there is a peer, or while joining or alone only briefly', () => {
    expect(waitingForOthers({ ...first, peers: 1 })).toBe(false);
    expect(waitingForOthers({ ...first, joined: false })).toBe(false);
    expect(waitingForOthers({ ...first, aloneMs: COLD_START_NOTICE_MS - 1 })).toBe(false);
  });

  it('does not show when a connection was tried: there are others, ICE is the problem (reachability.ts)', () => {
    expect(waitingForOthers({ ...first, attempts: 1 })).toBe(false);
  });

  it('does not show when the signal server is unreachable: then it cannot know who is online', () => {
    for (const signal of ['connecting', 'offline', 'replaced', 'closed'] as const) expect(waitingForOthers({ ...first, signal })).toBe(false);
  });

  it('shares the app’s own address', () => {
    expect(shareLink('https://chat.example')).toBe('https://chat.example/');
  });
});
