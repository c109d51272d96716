import { describe, expect, it } from 'vitest';
import { Stats } from '../../shared/lib/stats.ts';
import { failedAttempts, NO_PEERS_NOTICE_MS, noPeersMessage, type ReachabilityInput } from './reachability.ts';

const alone: ReachabilityInput = { joined: true, peers: 0, aloneMs: NO_PEERS_NOTICE_MS, failedAttempts: 2, iceUrls: [] };

describe('the no-peers message', () => {
  it('says that no STUN or TURN server is configured, and what to do, when there is none', () => {
    const text = noPeersMessage(alone);
    expect(text).toContain('No peer could be reached.');
    expect(text).toContain('No STUN or TURN server is configured');
    expect(text).toContain('STUN_URLS/TURN_URLS');
    expect(text).toContain('add a TURN server below');
  });

  it('names the configured STUN and TURN servers when there are some', () => {
    const text = noPeersMessage({ ...alone, iceUrls: ['stun:stun.example.org:3478', 'turn:turn.example.org:3478?transport=udp', 'stun:stun.example.org:3478'] });
    expect(text).toBe('No peer could be reached through the configured STUN/TURN servers (stun:stun.example.org:3478, turn:turn.example.org:3478?transport=udp).');
  });

  it('adds that a TURN server is missing when only STUN is configured', () => {
    const text = noPeersMessage({ ...alone, iceUrls: ['stun:stun.example.org'] });
    expect(text).toContain('(stun:stun.example.org)');
    expect(text).toContain('Without a TURN server');
  });

  it('says nothing while the tab has a peer, is still joining, has been alone only briefly, or nobody was tried', () => {
    expect(noPeersMessage({ ...alone, peers: 1 })).toBeNull();
    expect(noPeersMessage({ ...alone, joined: false })).toBeNull();
    expect(noPeersMessage({ ...alone, aloneMs: NO_PEERS_NOTICE_MS - 1 })).toBeNull();
    // The first tab of a network: no one to dial, so it waits for others without a warning.
    expect(noPeersMessage({ ...alone, failedAttempts: 0 })).toBeNull();
  });

  it('counts as failed the attempts that neither became a channel nor are still under way', () => {
    const stats = new Stats();
    stats.count('connections-created', 7);
    stats.count('channels-authenticated', 3);
    expect(failedAttempts({ stats, channels: { attemptsInProgress: 1 } })).toBe(3);
    expect(failedAttempts({ stats: new Stats(), channels: { attemptsInProgress: 0 } })).toBe(0);
  });
});
