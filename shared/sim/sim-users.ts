/**
 * Users in a Simulation for the chat-level tests: an identity per name (the same each time it
 * is asked for), a node that opens as it and signs in or registers, and a wait on a condition
 * in simulated time.
 */
import { Chat } from '../chat/chat.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { SeededRandom } from '../lib/random.ts';
import type { Simulation, SimNode } from './simulation.ts';

export interface SimUsers {
  identity(name: string): Promise<Identity>;
  /** A tab that opens as `name`'s identity, joins, and registers or signs in. */
  online(name: string): Promise<{ node: SimNode; chat: Chat }>;
  /** Runs the simulation until `check` holds (or `limitMs` passes); returns whether it held. */
  eventually(check: () => boolean, limitMs?: number): Promise<boolean>;
}

/** `sim` is read at each call (test files make theirs in beforeAll); `seedOf` picks each name's keys. */
export function simUsers(sim: () => Simulation, seedOf: (name: string) => number): SimUsers {
  const identities = new Map<string, Identity>();
  const identity = async (name: string): Promise<Identity> => {
    let id = identities.get(name);
    if (!id) identities.set(name, (id = await sim().until(sim().ops.track(createIdentity(new SeededRandom(seedOf(name)))))));
    return id;
  };
  return {
    identity,
    async online(name) {
      const node = await sim().spawn(await identity(name));
      await sim().until(node.started);
      const chat = (await sim().until(Chat.open(node, node.identity))) ?? (await sim().until(Chat.register(node, node.identity, name)));
      return { node, chat };
    },
    async eventually(check, limitMs = 120_000) {
      const end = sim().clock.now() + limitMs;
      while (!check() && sim().clock.now() < end) await sim().run(1_000);
      return check();
    },
  };
}
