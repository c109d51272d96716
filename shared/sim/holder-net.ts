/**
 * Mailbox holders without a transport, for attack tests that send thousands of frames: each
 * node is a NodeContext whose `direct` and `routeFromHere` hand the body (through the wire's
 * schemas, as a channel would) straight to the other node's handler, with the caller as the
 * authenticated neighbour. Every node sees every other (a small, settled neighbourhood);
 * FakeClock, SeededRandom, MemoryStore, and crypto ops that count verifies per node.
 */
import { MailboxService } from '../chat/mailbox-service.ts';
import '../chat/wire.ts';
import { REPLICATION } from '../dht/constants.ts';
import type { ContactWire } from '../dht/contacts.ts';
import type { Handler, NodeContext, Peer, RouteOptions } from '../dht/context.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { parseRequestBody, parseResponseBody, type Method, type RequestBodyOf, type ResponseBodyOf } from '../dht/protocol.ts';
import { closestSet } from '../dht/router.ts';
import { FakeClock } from '../lib/clock.ts';
import { createIdentity, type CryptoOps, type Identity } from '../lib/crypto.ts';
import { ErrorCode, PeerchatError } from '../lib/errors.ts';
import { compareDistance, idToHex, type NodeId } from '../lib/id.ts';
import { SeededRandom } from '../lib/random.ts';
import { Stats } from '../lib/stats.ts';
import { MemoryStore } from '../lib/store.ts';
import { nodeCryptoOps } from './node-crypto-ops.ts';

/** Crypto ops that count the signatures a node checks. */
export class CountingOps implements CryptoOps {
  verifies = 0;
  sign(identity: Identity, data: Uint8Array): Promise<Uint8Array> {
    return nodeCryptoOps.sign(identity, data);
  }
  verify(key: Uint8Array, sig: Uint8Array, data: Uint8Array): Promise<boolean> {
    this.verifies++;
    return nodeCryptoOps.verify(key, sig, data);
  }
}

export class HolderNode implements NodeContext {
  readonly hex: string;
  readonly ops = new CountingOps();
  readonly store = new MemoryStore();
  readonly stats = new Stats();
  readonly replication = REPLICATION;
  readonly isClosed = false;
  readonly random: SeededRandom;
  readonly mailbox: MailboxService;
  private readonly handlers = new Map<Method, Handler>();

  constructor(
    readonly net: HolderNet,
    readonly identity: Identity,
  ) {
    this.hex = idToHex(identity.nodeId);
    this.random = new SeededRandom(net.nodes.size + 1);
    net.nodes.set(this.hex, this);
    this.mailbox = new MailboxService(this);
  }

  get id(): NodeId {
    return this.identity.nodeId;
  }
  get idNonce(): number {
    return this.identity.idNonce;
  }
  get clock(): FakeClock {
    return this.net.clock;
  }
  get ticker(): FakeClock {
    return this.net.clock;
  }
  get signingKey(): Uint8Array {
    return this.identity.signingPublic;
  }
  sign(data: Uint8Array): Promise<Uint8Array> {
    return this.ops.sign(this.identity, data);
  }

  /** This node as the neighbour others see. */
  get asPeer(): Peer {
    return { id: this.id, hex: this.hex } as Peer;
  }

  neighbours(): Peer[] {
    return [...this.net.nodes.values()].filter((n) => n !== this).map((n) => n.asPeer);
  }
  peer(hex: string): Peer | undefined {
    const n = this.net.nodes.get(hex);
    return n && n !== this ? n.asPeer : undefined;
  }
  /** Every node sees every other: the network is no larger than what each knows. */
  anchor(): Promise<boolean> {
    return Promise.resolve(false);
  }
  /** A signal server that knows every node of the net, as one knows a settled network's tabs. */
  isTab(hex: string): Promise<boolean | null> {
    return Promise.resolve(this.net.nodes.has(hex));
  }
  /** Every node of the net is a neighbour already. */
  reachViaServer(hex: string): Promise<boolean> {
    return Promise.resolve(this.net.nodes.has(hex));
  }
  /** The service names no strangers unless a test says whom (every node sees every other). */
  strangers(): readonly string[] {
    return [];
  }
  /** No bootstrap service: nobody counts the network. */
  networkSize(): Promise<number | null> {
    return Promise.resolve(null);
  }
  closestTo(key: NodeId, r = this.replication) {
    return closestSet(key, { id: this.id, hex: this.hex }, this.neighbours(), r);
  }
  closestContacts(key: NodeId, r = this.replication): ContactWire[] {
    return this.closestTo(key, r).map((n) => this.net.get(n.hex).contact);
  }
  /** How answers name this node (dht/contacts.ts). */
  get contact(): ContactWire {
    return { key: toBase64Url(this.identity.signingPublic), n: this.identity.idNonce };
  }

  direct<M extends Method>(peer: Peer, method: M, body: RequestBodyOf<M>): Promise<ResponseBodyOf<M>> {
    return this.net.deliver(this, peer.hex, method, body, false);
  }

  /** Arrives at the node closest to key, as routing would in a settled network. */
  async routeFromHere<M extends Method>(method: M, body: RequestBodyOf<M>, key: NodeId, _paths?: number, opts: RouteOptions = {}): Promise<ResponseBodyOf<M>[]> {
    const skip = new Set([opts.avoid, opts.avoidSelf ? this.hex : undefined]);
    const target = [...this.net.nodes.values()].filter((n) => !skip.has(n.hex)).sort((a, b) => compareDistance(key, a.id, b.id))[0];
    if (!target) return [];
    return this.net.deliver(this, target.hex, method, body, true).then((r) => [r], () => []);
  }

  handle<M extends Method>(method: M, handler: Handler<M>): void {
    this.handlers.set(method, handler as unknown as Handler);
  }
  unhandle<M extends Method>(method: M): void {
    this.handlers.delete(method);
  }

  /** Runs this node's handler for a request from `from`. */
  serve(method: Method, body: unknown, from: HolderNode, routed: boolean): Promise<unknown> {
    const handler = this.handlers.get(method);
    if (!handler) throw new PeerchatError(ErrorCode.UnknownMethod, `${method} is not served here`);
    return handler(body as never, { from: this === from ? null : from.asPeer, routed, key: null });
  }
}

export class HolderNet {
  readonly clock = new FakeClock();
  readonly nodes = new Map<string, HolderNode>();

  /** `count` holders with identities drawn from `seed`. */
  static async create(count: number, seed: number): Promise<HolderNet> {
    const net = new HolderNet();
    const random = new SeededRandom(seed);
    for (let i = 0; i < count; i++) new HolderNode(net, await createIdentity(random));
    return net;
  }

  get(hex: string): HolderNode {
    return this.nodes.get(hex)!;
  }

  /** A request through the wire's schemas both ways, as a channel carries it. */
  async deliver<M extends Method>(from: HolderNode, to: string, method: M, body: RequestBodyOf<M>, routed: boolean): Promise<ResponseBodyOf<M>> {
    const target = this.nodes.get(to);
    if (!target) throw new PeerchatError(ErrorCode.ChannelClosed, 'No such node');
    const req = parseRequestBody(method, JSON.parse(JSON.stringify(body)));
    if (req === null) throw new PeerchatError(ErrorCode.BadRequest, 'Bad body');
    const res = parseResponseBody(method, JSON.parse(JSON.stringify(await target.serve(method, req, from, routed))));
    if (res === null) throw new PeerchatError(ErrorCode.BadRequest, 'Bad reply');
    return res as ResponseBodyOf<M>;
  }
}
