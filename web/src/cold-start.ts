/**
 * The first tab of an empty network: the signal server is reachable, but it handed out no peer
 * and nobody dialed in, so there is no one to hold the user's name or mail yet. Peerchat has no
 * server that does: it waits for a second open tab or a headless node (`npm run peer`). The
 * join screen says so and offers the link to share (JoinScreen.svelte); this is the decision,
 * pure so it is tested without a network. network-controller.ts samples the inputs.
 *
 * A tab alone whose attempts failed is another case (reachability.ts): there were peers, ICE
 * could not reach them.
 */
import type { SignalClientState } from '../net/signal-client.ts';

/**
 * How long a joined tab is alone, with no connection attempt either way, before the join screen
 * says it waits for others. The join asked the server first; an answer with peers starts a dial
 * at once, so a second of quiet already means an empty network. It spares a flash meanwhile.
 */
export const COLD_START_NOTICE_MS = 1_000;

export interface ColdStartInput {
  joined: boolean;
  signal: SignalClientState;
  peers: number;
  /** How long the tab has had no peer; 0 while it has one. */
  aloneMs: number;
  /** Connections created (dialed or answered) since the tab last had a peer, finished or not. */
  attempts: number;
}

/** True when this tab is the only node the signal server knows of, as far as it can tell. */
export function waitingForOthers(i: ColdStartInput): boolean {
  return i.joined && i.signal === 'ready' && i.peers === 0 && i.attempts === 0 && i.aloneMs >= COLD_START_NOTICE_MS;
}

/** The link a user shares so a second tab opens: the app's own address, never the twin URL. */
export function shareLink(origin: string): string {
  return `${origin}/`;
}
