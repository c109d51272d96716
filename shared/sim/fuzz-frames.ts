/**
 * Valid frames of every kind the DHT channel carries, signed with real keys, for the fuzzer to
 * bend (sim/fuzz.ts): a request per method (direct and routed), a reply per method, HELLO and
 * an error. Also the plain replies the fuzzer's peer gives the victim's own requests.
 */
import { createEnvelope, envelopeHash, signFetch, signReceipt, signTombstone } from '../chat/messages.ts';
import { signHolderAck } from '../chat/holder-acks.ts';
import { createRecord, recordKey, recordToWire } from '../chat/records.ts';
import type { EnvelopeWire, UserRecordWire } from '../chat/wire.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { idToHex } from '../lib/id.ts';
import { signSignal } from '../dht/signal-auth.ts';
import { errorFrame, hello, methods, request, response, type Method, type RequestBodyOf, type ResponseBodyOf, type Route } from '../dht/protocol.ts';
import { ErrorCode } from '../lib/errors.ts';
import type { Simulation } from './simulation.ts';

/** The id in every valid reply; the fuzzer's peer writes the id of the request it answers over it. */
export const PLACEHOLDER_ID = 4_242_424_242;

/** People in the fuzzer's play: an offline recipient (carol), a sender, and two peers it controls. */
export interface Cast {
  carol: Identity;
  sender: Identity;
  stranger: Identity;
  puppet: Identity;
  /** Carol's signed record, which the victim holds before the fuzz starts. */
  record: UserRecordWire;
  /** Mail for carol the victim holds before the fuzz starts; nothing valid deletes it. */
  held: EnvelopeWire;
}

export async function makeCast(sim: Simulation): Promise<Cast> {
  const make = () => sim.until(sim.ops.track(createIdentity(sim.random.fork())));
  const [carol, sender, stranger, puppet] = [await make(), await make(), await make(), await make()];
  const now = sim.clock.now();
  const record = recordToWire(await sim.until(createRecord(carol, sim.ops, { name: 'carol_fuzz', registeredAt: now, seq: 1, now })));
  const held = await sim.until(createEnvelope(sender, 'sender_fuzz', { nodeId: carol.nodeId, agreementKey: carol.agreementPublic }, 'held', now, sim.random.fork(), sim.ops));
  return { carol, sender, stranger, puppet, record, held };
}

export interface ValidFrames {
  /** Per method: the request direct and routed, as text. */
  requests: Record<Method, string[]>;
  /** Per method: a request body to send the fuzzer's peer. */
  requestBodies: Record<Method, unknown>;
  /** Per method: a rich reply, as text with PLACEHOLDER_ID. */
  responses: Record<Method, string>;
  hello: string;
  err: string;
  /** Every frame above: values to swap into another frame. */
  all: string[];
}

/**
 * Valid frames built with the protocol's builders, signed now (fetches go stale after 5 minutes).
 * The fetch is signed for the victim (a holder refuses one signed for another) with a nonce of
 * its own; its mutations carry other nonces, so many get as far as the signature check.
 */
export async function validFrames(sim: Simulation, victimHex: string, cast: Cast, victim: Identity): Promise<ValidFrames> {
  const { carol, sender, stranger, record } = cast;
  const now = sim.clock.now();
  const carolHex = idToHex(carol.nodeId);
  const recordHex = idToHex(recordKey(record.name));
  const other = await sim.until(createEnvelope(sender, 'sender_fuzz', { nodeId: carol.nodeId, agreementKey: carol.agreementPublic }, 'other', now, sim.random.fork(), sim.ops));
  const toVictim = await sim.until(createEnvelope(sender, 'sender_fuzz', { nodeId: victim.nodeId, agreementKey: victim.agreementPublic }, 'hi', now, sim.random.fork(), sim.ops));
  // For `other`, which the valid MAILBOX_STORE has the victim hold: so acks get past the cheap
  // checks (held here, signed by the recipient it names) to the signature.
  const tombstone = await sim.until(signTombstone(carol, envelopeHash(other), now, sim.ops));
  const receipt = await sim.until(signReceipt(victim, toVictim.id, now, sim.ops));
  const fetch = await sim.until(signFetch(carol, victimHex, now, sim.random.fork(), sim.ops));
  const carolKey = toBase64Url(carol.signingPublic);
  const ack = { key: carolKey, n: carol.idNonce, tombstones: [tombstone] };
  const holderAck = await sim.until(signHolderAck({ hex: idToHex(stranger.nodeId), signingKey: stranger.signingPublic, idNonce: stranger.idNonce, sign: (d) => sim.ops.sign(stranger, d) }, envelopeHash(other), carolHex));
  // Signed by the stranger, so the victim's handler gets past the signature (once: a repeat is
  // a replay) and reaches the offer limits and the budget.
  const signal = await sim.until(signSignal(stranger, victimHex, 'fz_1', '[]', now, sim.ops));
  const contactOf = (i: Identity) => ({ key: toBase64Url(i.signingPublic), n: i.idNonce });
  const bodies: { [M in Method]: { req: RequestBodyOf<M>; res: ResponseBodyOf<M>; key: string } } = {
    PING: { req: {}, res: {}, key: victimHex },
    FIND_NODE: { req: { target: carolHex }, res: { nodes: [contactOf(victim), contactOf(carol)] }, key: carolHex },
    SIGNAL: { req: signal, res: { data: '[]', busyMs: 1_000 }, key: victimHex },
    FIND_VALUE: { req: { key: recordHex }, res: { record, nodes: [contactOf(carol)] }, key: recordHex },
    STORE: { req: { record }, res: { stored: true, record }, key: recordHex },
    MAILBOX_STORE: { req: { envelope: other, copies: 2 }, res: { stored: true, acks: [holderAck, holderAck], ack }, key: carolHex },
    MAILBOX_FETCH: { req: fetch, res: { entries: [other, cast.held], more: true }, key: carolHex },
    MAILBOX_ACK: { req: ack, res: { accepted: 1 }, key: carolHex },
    DELIVER: { req: { envelope: toVictim }, res: { receipt, ack }, key: victimHex },
  };
  const requests = {} as Record<Method, string[]>;
  const requestBodies = {} as Record<Method, unknown>;
  const responses = {} as Record<Method, string>;
  for (const m of methods()) {
    const b = bodies[m];
    const route: Route = { k: b.key, h: 1, max: 20, ms: 9_000 };
    requests[m] = [JSON.stringify(request(7, m, b.req as never)), JSON.stringify(request(8, m, b.req as never, route))];
    requestBodies[m] = b.req;
    responses[m] = JSON.stringify(response(PLACEHOLDER_ID, b.res));
  }
  // Fetches that stop at each of the holder's checks: another holder's, a stale one (its
  // mutations of `at` reach the signature check), and fresh ones with nonces of their own.
  const fetchFor = (holder: string, at: number) => sim.until(signFetch(carol, holder, at, sim.random.fork(), sim.ops));
  const fetches = [await fetchFor(idToHex(stranger.nodeId), now), await fetchFor(victimHex, now - 10 * 60_000), await fetchFor(victimHex, now), await fetchFor(victimHex, now)];
  requests.MAILBOX_FETCH!.push(...fetches.map((f, i) => JSON.stringify(request(20 + i, 'MAILBOX_FETCH', f))));
  const helloText = JSON.stringify(hello(toBase64Url(stranger.signingPublic), stranger.idNonce, fetch.sig));
  const err = JSON.stringify(errorFrame(PLACEHOLDER_ID, ErrorCode.Busy, 'Forwarding rate exceeded'));
  const all = [...Object.values(requests).flat(), ...Object.values(responses), helloText, err];
  return { requests, requestBodies, responses, hello: helloText, err, all };
}

/** The reply an honest peer gives the victim's own requests: small and valid. */
export function honestReply(id: number, m: string): string {
  const bodies: Record<string, unknown> = {
    PING: {},
    FIND_NODE: { nodes: [] },
    SIGNAL: { data: null, busyMs: 60_000 },
    FIND_VALUE: { record: null, nodes: [] },
    STORE: { stored: true, record: null },
    MAILBOX_STORE: { stored: true, acks: [] },
    MAILBOX_FETCH: { entries: [], more: false },
    MAILBOX_ACK: { accepted: 0 },
  };
  const body = bodies[m];
  if (body === undefined) return JSON.stringify(errorFrame(id, ErrorCode.UnknownMethod, `${m} is not served here`));
  return JSON.stringify({ t: 'res', id, b: body });
}
