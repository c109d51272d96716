/**
 * What the Network panel says when a tab that joined reaches no peer: a pure decision over the
 * tab's peer count, its failed connection attempts and the ICE servers it uses, so that the
 * words (STUN/TURN configured or not) are tested without a network. network-controller.ts
 * samples the inputs; NetworkPanel.svelte shows the result.
 */
import type { Stats } from '../../shared/lib/stats.ts';

/**
 * How long a joined tab is without any peer, with an attempt failed meanwhile, before the panel
 * says why. A first peer usually opens within a few seconds; one failed dial alone is no news.
 */
export const NO_PEERS_NOTICE_MS = 10_000;

export interface ReachabilityInput {
  joined: boolean;
  peers: number;
  /** How long the tab has had no peer; 0 while it has one. */
  aloneMs: number;
  /** Connection attempts that failed since the tab last had a peer. */
  failedAttempts: number;
  /** URLs of the ICE servers new connections use (never credentials). */
  iceUrls: readonly string[];
}

/** The panel's message, or null when there is nothing to say (peers, or no one tried yet). */
export function noPeersMessage(i: ReachabilityInput): string | null {
  if (!i.joined || i.peers > 0 || i.aloneMs < NO_PEERS_NOTICE_MS || i.failedAttempts === 0) return null;
  if (i.iceUrls.length === 0) {
    return (
      'No peer could be reached. No STUN or TURN server is configured: peers behind different home ' +
      "routers cannot connect. Ask the server's operator to set STUN_URLS/TURN_URLS, or add a TURN server below."
    );
  }
  const urls = [...new Set(i.iceUrls)];
  const message = `No peer could be reached through the configured STUN/TURN servers (${urls.join(', ')}).`;
  if (urls.some((url) => /^turns?:/i.test(url))) return message;
  return `${message} Without a TURN server, peers behind strict NATs or firewalls cannot connect: add one below.`;
}

/** What failedAttempts reads of a node: its counters and the attempts still under way. */
export interface AttemptSource {
  stats: Pick<Stats, 'get'>;
  channels: { readonly attemptsInProgress: number };
}

/**
 * Connection attempts (either direction) that ended without an authenticated channel, over the
 * node's life: created, less those that became channels, less those still under way.
 */
export function failedAttempts(node: AttemptSource): number {
  const { stats } = node;
  return Math.max(0, stats.get('connections-created') - stats.get('channels-authenticated') - node.channels.attemptsInProgress);
}
