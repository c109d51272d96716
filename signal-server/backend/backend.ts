/**
 * The signal server's backend seam: who is online, which of them a newcomer gets as first
 * peers, and how a relayed frame reaches its tab. Everything about sockets stays in the hub
 * (auth, frames, rate limits, caps, the per-address id limit), so a backend deals only in node
 * ids, opaque frames and the LocalTab handles of the tabs connected to this process.
 *
 * The embedded default is MemoryBackend (memory.ts): one process. A networked backend (presence
 * in Redis with expiry, relays over pub/sub between processes) is one more file here that keeps
 * the contract in contract.ts, plus the line in main.ts that picks it.
 *
 * Every call is async because a networked backend answers over the network; calls made one after
 * another resolve in that order, since a tab matches its `peers` answers by order alone.
 */

/** What became of a relayed frame. */
export type DeliverResult = 'delivered' | 'not-found' | 'busy';

/**
 * How a networked backend is doing: 'ok' while it reaches the other processes, 'degraded' while
 * it serves only this process's tabs (its store is unreachable).
 */
export type BackendState = 'ok' | 'degraded';

/** When tabs settle; both default to the wall clock and SETTLED_TAB_MS (limits.ts). */
export interface SettleOptions {
  /** Milliseconds, the clock registrations are timed by; tests hand in a fake one. */
  now?: () => number;
  /** A tab registered without a break for this long is settled. */
  settledMs?: number;
}

/** A tab connected to this process, as the hub hands it to the backend. */
export interface LocalTab {
  /** The node id the tab proved, 40 hex digits. */
  readonly id: string;
  /** Sends one encoded server frame; 'busy' when the tab is not reading its socket. */
  deliver(frame: string): DeliverResult;
  /** A newer registration of the same id took over (a reload, maybe on another process). */
  replaced(): void;
}

export interface SignalBackend {
  /**
   * Makes the tab reachable under its id, by relays and in first peers, until unregistered. An
   * older tab with that id is told replaced() and is never handed out or delivered to again.
   */
  register(tab: LocalTab): Promise<void>;
  /** Forgets the tab, unless a newer one has taken its id (then that one stays). */
  unregister(tab: LocalTab): Promise<void>;
  /**
   * Up to n registered ids other than `askerId`, drawn uniformly at random from the settled tabs
   * (registered without a break for `settledMs`); only when too few are settled is the rest
   * drawn at random from the unsettled, so a young network still bootstraps. An id that
   * reconnects before every join is never settled, so it is not handed out ahead of others.
   */
  pickPeers(askerId: string, n: number): Promise<string[]>;
  /**
   * How many tabs are registered (what pickPeers draws from), the asker's included: a tab takes
   * the network's density from it (shared/dht/options.ts BootstrapPeers).
   */
  live(): Promise<number>;
  /**
   * Whether `id` is registered now (not unregistered, not expired), wherever it is connected.
   * Rejects when the backend cannot say (a networked one cut off from the other processes),
   * and never answers false then: a tab takes false as "nobody has that id" and blames whoever
   * named it.
   */
  isTab(id: string): Promise<boolean>;
  /** Sends `frame` to the tab registered as `to`, wherever it is connected. */
  relay(to: string, frame: string): Promise<DeliverResult>;
  /** Forgets every tab and releases what the backend holds. Idempotent. */
  close(): Promise<void>;
  /** A networked backend's state, for /healthz, /stats and /metrics; the embedded one has none. */
  state?(): BackendState;
}
