/**
 * Names outlive their owners' absence (ARCHITECTURE.md property 3), behind `npm run sim -- --names`:
 * users register, then leave and stay away for `days` while the network churns; afterwards,
 * lookups from random live nodes must still resolve each name to its owner's key. Only the
 * holders keep the records alive: they hand them to each node that becomes one of the closest.
 */
import { Chat } from '../chat/chat.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { idEquals } from '../lib/id.ts';
import { Simulation } from './simulation.ts';

export interface NamesExperimentOptions {
  nodes: number;
  names: number;
  churn: number;
  days: number;
  lookups: number;
  seed: number;
  /** Ed25519 for every signature (SimOptions.realSignatures); the result must not change. */
  realSignatures?: boolean;
}

export interface NamesExperimentResult extends NamesExperimentOptions {
  resolvedFraction: number;
  /** Lookups that found no record, and that found another key's (never expected). */
  notFound: number;
  wrongKey: number;
  failed: number;
  departures: number;
  wallMs: number;
}

const DAY = 24 * 3_600_000;

export async function runNamesExperiment(o: NamesExperimentOptions): Promise<NamesExperimentResult> {
  const wallStart = performance.now();
  const sim = new Simulation({ seed: o.seed, churnPerHour: o.churn, realSignatures: o.realSignatures ?? false });
  const random = sim.random.fork();
  await sim.grow(o.nodes);
  const owners: Array<{ name: string; identity: Identity }> = [];
  for (let i = 0; i < o.names; i++) {
    const identity = await sim.until(sim.ops.track(createIdentity(random.fork())));
    const node = await sim.spawn(identity, { churn: false });
    await sim.until(node.started);
    const name = `away_${i}`;
    const chat = await sim.until(Chat.register(node, identity, name));
    chat.close();
    sim.leave(node);
    owners.push({ name, identity });
  }
  // Day by day, so the run can be followed and the clock's queue stays short.
  for (let d = 0; d < o.days; d++) await sim.run(DAY);

  let resolved = 0;
  let notFound = 0;
  let wrongKey = 0;
  let failed = 0;
  for (let i = 0; i < o.lookups; i++) {
    const owner = owners[i % owners.length]!;
    const from = sim.randomLive(random);
    try {
      const record = await sim.until(from.records.resolve(owner.name));
      if (!record) notFound++;
      else if (!idEquals(record.signingKey, owner.identity.signingPublic)) wrongKey++;
      else resolved++;
    } catch {
      failed++;
    }
  }
  const departures = sim.departures;
  sim.close();
  return {
    ...o,
    resolvedFraction: resolved / o.lookups,
    notFound,
    wrongKey,
    failed,
    departures,
    wallMs: Math.round(performance.now() - wallStart),
  };
}
