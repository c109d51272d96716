/** For tests of the id-work rule (lib/id.ts): an id nonce that does not carry the work. */
import { nodeIdFromSigningKey } from './id.ts';

/** The first nonce with which `key` makes no valid id at the network's current work bits. */
export function nonceWithoutWork(key: Uint8Array): number {
  for (let n = 0; ; n++) if (nodeIdFromSigningKey(key, n) === null) return n;
}
