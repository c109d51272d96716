/**
 * Contacts in FIND_NODE and FIND_VALUE answers are self-certifying: each is the signing key and
 * id nonce that make a node id (lib/id.ts), never a bare id. Whoever reads an answer keeps,
 * forwards or dials only the ids these make with the network's work, checked here (one hash
 * each), so an id named in an answer cost someone the work of a real node's, and a made-up id
 * near a key costs its namer the grinding (2^(b + work bits) hashes for a b-bit shared prefix).
 * A contact that fails is dropped and counted (`contact-drop-bad-work`); an honest node names
 * only keys its channels proved in HELLO, so a neighbour that answered one directly lied.
 */
import * as v from 'valibot';
import { fromBase64Url } from '../lib/encoding.ts';
import { idToHex, idWorkBits, nodeIdFromSigningKey } from '../lib/id.ts';
import type { Stats } from '../lib/stats.ts';
import { internHex } from './id-intern.ts';
import type { ContactWire as ContactSchema } from './protocol-schemas.ts';

export type ContactWire = v.InferOutput<typeof ContactSchema>;

/**
 * Ids of contacts checked lately, by work bits, nonce and key: most answers name the same few
 * nodes again (a node's neighbourhood), and the simulator runs thousands of nodes in a process.
 * Only valid ones are kept, so a bad contact costs its hash every time.
 */
const checked = new Map<string, string>();
const CHECKED_MAX = 8_192;

/** The id (hex) that `c` makes with the network's work, or null when its work fails. */
export function contactHex(c: ContactWire): string | null {
  const k = `${idWorkBits()}.${c.n}.${c.key}`;
  const known = checked.get(k);
  if (known !== undefined) return known;
  const key = fromBase64Url(c.key);
  const id = key && nodeIdFromSigningKey(key, c.n);
  if (!id) return null;
  const hex = internHex(idToHex(id));
  if (checked.size >= CHECKED_MAX) checked.delete(checked.keys().next().value!);
  checked.set(k, hex);
  return hex;
}

/**
 * The ids (hex) of the contacts in an answer whose work checks out, in order; each that fails is
 * counted as `contact-drop-bad-work`. Returns how many failed too, for a caller that knows who
 * answered (a neighbour asked directly) and may act on it.
 */
export function verifiedIds(contacts: readonly ContactWire[], stats: Stats): { ids: string[]; bad: number } {
  const ids: string[] = [];
  let bad = 0;
  for (const c of contacts) {
    const hex = contactHex(c);
    if (hex === null) bad++;
    else ids.push(hex);
  }
  if (bad > 0) stats.count('contact-drop-bad-work', bad);
  return { ids, bad };
}
