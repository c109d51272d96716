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
 * Ids of contacts checked lately, by key: most answers name the same few nodes again (a node's
 * neighbourhood), and the simulator runs thousands of nodes in a process. Filed under the key
 * string alone, with the nonce and work bits checked on the entry: a key made of the three
 * joined cost a string built and hashed per contact (2% of a chat simulation's CPU). A key
 * seen with another valid nonce replaces its entry. Only valid ones are kept, so a bad contact
 * costs its hash every time.
 */
const checked = new Map<string, { readonly bits: number; readonly n: number; readonly hex: string }>();
const CHECKED_MAX = 8_192;

/** The id (hex) that `c` makes with the network's work, or null when its work fails. */
export function contactHex(c: ContactWire): string | null {
  const bits = idWorkBits();
  const known = checked.get(c.key);
  if (known !== undefined && known.n === c.n && known.bits === bits) return known.hex;
  const key = fromBase64Url(c.key);
  const id = key && nodeIdFromSigningKey(key, c.n);
  if (!id) return null;
  const hex = internHex(idToHex(id));
  if (known === undefined && checked.size >= CHECKED_MAX) checked.delete(checked.keys().next().value!);
  checked.set(c.key, { bits, n: c.n, hex });
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
