/**
 * A peer the fuzzer controls frame by frame: a raw connection on the simulated network, signaled
 * to the victim the way a first peer is (KademliaNode.handleSignal), that sends whatever text it
 * is given, before its HELLO (the victim's Channels hold or drop it) or after (the victim's
 * RpcChannel and handlers see it, as from any authenticated neighbour). It answers the victim's
 * requests so the victim keeps it: with frames the fuzzer hands it, then a valid reply.
 */
import { helloPayload, type Identity } from '../lib/crypto.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { idToHex } from '../lib/id.ts';
import type { Connection, ConnectionEvents, MemoryTransport } from '../lib/transport.ts';
import { encodeFrame, hello } from '../dht/protocol.ts';
import type { Simulation, SimNode } from './simulation.ts';

/** A request the victim sent this peer. */
export interface VictimRequest {
  id: number;
  m: string;
}

/**
 * Runs the simulation in small steps until `work` settles. Simulation.until may run one batch
 * of timers past the moment its promise settles, which on a quiet network can be a connection
 * attempt's 15 s timeout: the peer's attempt would be gone before its answer came back.
 */
export async function settle<T>(sim: Simulation, work: Promise<T>, limitMs = 60_000): Promise<T> {
  let done = false;
  work.then(() => (done = true), () => (done = true));
  for (let waited = 0; !done && waited < limitMs; waited += SETTLE_STEP_MS) await sim.run(SETTLE_STEP_MS);
  return work;
}

const SETTLE_STEP_MS = 5;

export class PuppetPeer implements ConnectionEvents {
  readonly hex: string;
  conn: Connection | null = null;
  opened = false;
  closedReason: string | null = null;
  /** Requests the victim sent, answered by `answer`. */
  requestsSeen = 0;
  private readonly signals: string[] = [];

  constructor(
    private readonly sim: Simulation,
    readonly identity: Identity,
    private readonly transport: MemoryTransport,
    /** Frames (text) to send in answer to a victim's request, in order. */
    public answer: (req: VictimRequest) => string[],
  ) {
    this.hex = idToHex(identity.nodeId);
  }

  get isOpen(): boolean {
    return this.opened && this.closedReason === null;
  }

  /** Signals a new connection to the victim and runs the simulation until it opens (or fails). */
  async connect(victim: SimNode, tag: string): Promise<boolean> {
    this.opened = false;
    this.closedReason = null;
    this.signals.length = 0;
    this.conn = this.transport.create(true, this);
    await this.sim.run(1); // the offer is emitted on the clock
    const reply = await settle(this.sim, victim.node.handleSignal(this.hex, { conn: tag, data: this.signals.splice(0) }));
    if ('busyMs' in reply) {
      this.conn.close();
      return false;
    }
    for (const d of reply.data) this.conn.signal(d);
    for (let i = 0; i < 100 && !this.opened && this.closedReason === null; i++) await this.sim.run(20);
    return this.isOpen;
  }

  /** Proves this peer's id to the victim: the HELLO an honest node sends. */
  async hello(): Promise<void> {
    const conn = this.conn;
    const local = conn?.localFingerprint();
    const remote = conn?.remoteFingerprint();
    if (!conn || !local || !remote) return;
    const sig = await settle(this.sim, this.sim.ops.sign(this.identity, helloPayload(local, remote)));
    conn.send(encodeFrame(hello(toBase64Url(this.identity.signingPublic), this.identity.idNonce, toBase64Url(sig))));
  }

  send(text: string): boolean {
    return this.conn?.send(text) ?? false;
  }

  /** Ends the connection from this side. */
  hangUp(): void {
    this.conn?.close();
  }

  // ---- ConnectionEvents --------------------------------------------------------------------

  signal(data: string): void {
    this.signals.push(data);
  }

  open(): void {
    this.opened = true;
  }

  message(frame: string): void {
    let value: unknown;
    try {
      value = JSON.parse(frame);
    } catch {
      return;
    }
    const f = value as { t?: unknown; id?: unknown; m?: unknown };
    if (f.t !== 'req' || typeof f.id !== 'number' || typeof f.m !== 'string') return;
    this.requestsSeen++;
    for (const text of this.answer({ id: f.id, m: f.m })) this.conn?.send(text);
  }

  close(reason: string): void {
    this.closedReason = reason;
  }
}
