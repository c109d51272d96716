/**
 * /metrics: the server's counters in Prometheus text format (prom-client), read from the hub's
 * stats when scraped, so nothing is counted twice. One Registry per server: tests run many
 * servers in one process and never share prom-client's global registry.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { SignalStats } from './hub.ts';

/** Whether the backend reaches Redis: 'off' when there is none (the embedded default). */
export type RedisState = 'ok' | 'degraded' | 'off';

/** What /stats shows and /metrics exposes: the hub's counters and the backend's state. */
export type ServerStats = SignalStats & { redis: RedisState };

const REDIS_STATES = ['ok', 'degraded', 'off'] as const;

export function createMetrics(stats: () => ServerStats): Registry {
  const registry = new Registry();
  let snapshot: ServerStats = stats();
  // Every collect below runs on one scrape; the first takes the snapshot they all read.
  new Gauge({
    name: 'peerchat_signal_sockets',
    help: 'Open /signal sockets, authenticated or not.',
    registers: [registry],
    collect() {
      snapshot = stats();
      this.set(snapshot.connections);
    },
  });
  new Gauge({
    name: 'peerchat_signal_authenticated_tabs',
    help: 'Tabs that proved their node id on this process.',
    registers: [registry],
    collect() {
      this.set(snapshot.authenticated);
    },
  });
  counterByLabel(registry, 'peerchat_signal_relays_total', 'Signals and replies relayed, by what became of them.', 'result', () => snapshot.relays);
  counterByLabel(registry, 'peerchat_signal_refusals_total', 'Sockets refused or dropped, by reason.', 'reason', () => snapshot.rejects);
  counter(registry, 'peerchat_signal_offers_relayed_total', 'Relayed batches that carried an offer: connections signaled.', () => snapshot.offersRelayed);
  counter(registry, 'peerchat_signal_peers_handed_out_total', 'Node ids handed out as first peers.', () => snapshot.peersHandedOut);
  counter(registry, 'peerchat_signal_is_tab_queries_total', 'is-tab queries answered: whether an id is connected.', () => snapshot.isTabQueries);
  counter(registry, 'peerchat_signal_turn_credentials_total', 'TURN credentials minted.', () => snapshot.turnCredentialsMinted);
  new Gauge({
    name: 'peerchat_signal_redis_state',
    help: "1 for the backend's Redis state (ok: shared with other processes; degraded: serving this process's tabs alone; off: no Redis), 0 for the others.",
    labelNames: ['state'],
    registers: [registry],
    collect() {
      for (const state of REDIS_STATES) this.set({ state }, snapshot.redis === state ? 1 : 0);
    },
  });
  return registry;
}

function counter(registry: Registry, name: string, help: string, value: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(value());
    },
  });
}

function counterByLabel(registry: Registry, name: string, help: string, label: string, values: () => Record<string, number>): void {
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, n] of Object.entries(values())) this.inc({ [label]: key }, n);
    },
  });
}
