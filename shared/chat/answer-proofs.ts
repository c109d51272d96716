/**
 * Signed FIND_VALUE answers (ARCHITECTURE.md, "Names"). Find user asks each of a name's closest
 * holders what it keeps and counts the answers; a holder that is not a neighbour is asked by a
 * FIND_VALUE routed to its id. Any node on that route could answer in its place, and a node
 * near a name could so cast the votes of several honest holders (seen 2026-12-05: one liar's
 * answer counted for an honest holder's id). So a routed ask carries a fresh nonce and the
 * answer a proof: the answering node's key and id nonce, which must make the holder's id
 * asked, signing the name's key, the nonce, the record it keeps (its signature, or nothing),
 * that id and the nodes it names as the name's closest. An answer without a valid proof is
 * not that holder's vote, and a node that relays one cannot swap the nodes it names either:
 * those become the looker's next candidates, and strikes fall on the holder that named them.
 */
import type { CryptoOps } from '../lib/crypto.ts';
import { concatBytes, fromBase64Url, lengthPrefixed, toBase64Url, utf8Encode } from '../lib/encoding.ts';
import { idFromHex, keyMakesId } from '../lib/id.ts';
import type { Random } from '../lib/random.ts';
import type { AckSigner } from './holder-acks.ts';
import type { ContactWire } from '../dht/contacts.ts';
import type { HolderAckWire, UserRecordWire } from './wire.ts';

const ANSWER_TAG = utf8Encode('peerchat-find-value-answer-v2');
/** Bytes of an ask's nonce: fresh per ask, so an old signed answer is no answer now. */
export const ASK_NONCE_BYTES = 32;

/** The proof's shape is a holder ack's: who signs (holder id, key, id nonce) and the signature. */
export type AnswerProofWire = HolderAckWire;

function answerBytes(key: string, nonce: string, record: UserRecordWire | null, nodes: readonly ContactWire[], holder: string): Uint8Array {
  return concatBytes(
    lengthPrefixed(ANSWER_TAG),
    lengthPrefixed(utf8Encode(key)),
    lengthPrefixed(utf8Encode(nonce)),
    // A record's signature binds every field of it (its owner signed them all): the record kept.
    lengthPrefixed(utf8Encode(record?.sig ?? '')),
    lengthPrefixed(utf8Encode(holder)),
    // Each contact is its key and id nonce (its id follows from them), in the order named.
    lengthPrefixed(utf8Encode(String(nodes.length))),
    ...nodes.map((c) => concatBytes(lengthPrefixed(utf8Encode(c.key)), lengthPrefixed(utf8Encode(String(c.n))))),
  );
}

export function askNonce(random: Random): string {
  return toBase64Url(random.bytes(ASK_NONCE_BYTES));
}

/** This node's signed word that, asked `nonce` about `key`, it keeps `record` and names `nodes`. */
export async function signAnswer(signer: AckSigner, key: string, nonce: string, record: UserRecordWire | null, nodes: readonly ContactWire[]): Promise<AnswerProofWire> {
  const sig = await signer.sign(answerBytes(key, nonce, record, nodes, signer.hex));
  return { holder: signer.hex, key: toBase64Url(signer.signingKey), n: signer.idNonce, sig: toBase64Url(sig) };
}

/**
 * Whether `proof` shows that holder `holder` itself answered this ask with `record` and
 * `nodes`: cheap checks first (it names that holder, its key and id nonce make that id), then
 * the signature.
 */
export async function answerIsFrom(
  holder: string,
  key: string,
  nonce: string,
  record: UserRecordWire | null,
  nodes: readonly ContactWire[],
  proof: AnswerProofWire | undefined,
  ops: CryptoOps,
): Promise<boolean> {
  if (!proof || proof.holder !== holder) return false;
  const id = idFromHex(holder);
  const signingKey = fromBase64Url(proof.key);
  const sig = fromBase64Url(proof.sig);
  if (!id || !signingKey || !sig || !keyMakesId(signingKey, proof.n, id)) return false;
  return ops.verify(signingKey, sig, answerBytes(key, nonce, record, nodes, holder));
}
