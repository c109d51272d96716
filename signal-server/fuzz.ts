/**
 * The signal server's fuzzer (issue 14): hostile client frames of each type (hello, peers,
 * signal, signal-reply, ping, ice, is-tab), half structure-aware and half mutations of valid frames
 * (shared/sim/fuzz-gen.ts), fed to a real Hub through sockets that stand in for ws ones: every
 * other frame on a fresh socket that has only been challenged, the rest on a socket that proved
 * its id and was welcomed. Counts exceptions (caught around delivery, uncaught, unhandled
 * rejections), parseClientMessage's verdicts and the hub's rejects and relays per type, and
 * checks after that an honest tab is still welcomed and served. The other direction, each
 * server message type, goes through parseServerMessage (the tab's client lives in web/).
 */
import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import type { WebSocket } from 'ws';
import { createIdentity, type Identity } from '../shared/lib/crypto.ts';
import { toBase64Url } from '../shared/lib/encoding.ts';
import { idToHex } from '../shared/lib/id.ts';
import { SeededRandom } from '../shared/lib/random.ts';
import { encodeSignalMessage, parseClientMessage, parseServerMessage, signalAuthPayload, type ClientMessage } from '../shared/signal/protocol.ts';
import { asText, ExceptionTrap, mutate, sampleChunks, shaped } from '../shared/sim/fuzz-gen.ts';
import { nodeCryptoOps } from '../shared/sim/node-crypto-ops.ts';
import { MemoryBackend } from './backend/memory.ts';
import { Hub } from './hub.ts';
import { DEFAULT_LIMITS } from './limits.ts';
import { samplePayload, sampleReply } from '../shared/signal/test-signals.ts';

export interface SignalFuzzOptions {
  /** Frames per client message type. */
  frames: number;
  seed: number;
}

export interface SignalKindReport {
  frames: number;
  exceptions: number;
  /** parseClientMessage's verdicts: `ok` or the drop reason. */
  parsed: Record<string, number>;
  /** What the hub's rejects and relays moved by while this type was fed. */
  rejects: Record<string, number>;
  relays: Record<string, number>;
  wallMs: number;
}

export interface SignalFuzzReport {
  seed: number;
  framesPerType: number;
  types: Record<string, SignalKindReport>;
  /** Server frames through parseServerMessage, as a tab reads them (the client lives in web/). */
  serverTypes: Record<string, { frames: number; exceptions: number; parsed: Record<string, number> }>;
  frames: number;
  exceptions: number;
  exceptionSamples: string[];
  invariants: Record<string, boolean>;
  wallMs: number;
}

/** Enough of a ws WebSocket for the hub: what it sends is kept, close is reported at once. */
export class FakeSocket extends EventEmitter {
  readonly CLOSED = 3;
  readyState = 1;
  bufferedAmount = 0;
  sent: string[] = [];
  closeCode: number | null = null;

  send(text: string): void {
    if (this.readyState !== 1) return;
    this.sent.push(text);
    this.emit('sent', text);
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState === this.CLOSED) return;
    this.readyState = this.CLOSED;
    this.closeCode = code;
    this.emit('close', code, Buffer.from(reason));
  }

  terminate(): void {
    this.close(1006);
  }

  ping(): void {}

  /** A text frame from the tab, as ws hands it over (a Buffer); `binary` marks a binary frame. */
  receive(text: string, binary = false): void {
    this.emit('message', Buffer.from(text), binary);
  }

  /** Server frames of `type` received so far. */
  received(type: string): unknown[] {
    return this.sent.map((t) => parseServerMessage(t)).filter((p) => p.ok && p.message.type === type).map((p) => (p.ok ? p.message : null));
  }

  get closed(): boolean {
    return this.readyState === this.CLOSED;
  }
}

/** Lets the hub's promise chains (signature checks, TURN credentials, the backend) run. */
async function flush(rounds = 2): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

const ADDRESS = '203.0.113.7';
/** Real time a welcome may take (the signature check and TURN credentials are async). */
const SIGN_IN_TIMEOUT_MS = 5_000;

export async function runSignalFuzz(options: SignalFuzzOptions): Promise<SignalFuzzReport> {
  const started = performance.now();
  const trap = new ExceptionTrap();
  trap.install();
  try {
    return await new SignalFuzz(trap, options).run(started);
  } finally {
    trap.uninstall();
  }
}

class SignalFuzz {
  private now = 1_700_000_000_000;
  private readonly random: SeededRandom;
  private hub!: Hub;
  private tab!: Identity;
  private other!: Identity;
  private ready: FakeSocket | null = null;
  private listener: FakeSocket | null = null;
  private readonly types: Record<string, SignalKindReport> = {};

  constructor(
    private readonly trap: ExceptionTrap,
    private readonly o: SignalFuzzOptions,
  ) {
    this.random = new SeededRandom(o.seed);
  }

  async run(started: number): Promise<SignalFuzzReport> {
    this.tab = await createIdentity(this.random);
    this.other = await createIdentity(this.random);
    this.hub = new Hub({
      limits: DEFAULT_LIMITS,
      now: () => this.now,
      random: this.random,
      ops: nodeCryptoOps,
      backend: new MemoryBackend(this.random),
      ice: { stunUrls: ['stun:stun.example.org:3478'], turnUrls: ['turn:turn.example.org:3478'], turnSecret: 'fuzz-secret', ttlS: 3_600 },
    });
    // A second tab stays signed in, so relays to it are delivered.
    this.listener = await this.signIn(this.other);
    const valid = await this.validFrames();
    const all = Object.values(valid).flat();
    for (const [type, frames] of Object.entries(valid)) await this.feed(type, frames, all);
    const serverTypes = this.serverFrames();
    const invariants = await this.check();
    const frames = Object.values(this.types).reduce((n, k) => n + k.frames, 0);
    await this.hub.closeAll(0);
    return {
      seed: this.o.seed,
      framesPerType: this.o.frames,
      types: this.types,
      serverTypes,
      frames: frames + Object.values(serverTypes).reduce((n, k) => n + k.frames, 0),
      exceptions: this.trap.total,
      exceptionSamples: this.trap.samples,
      invariants,
      wallMs: Math.round(performance.now() - started),
    };
  }

  private async validFrames(): Promise<Record<string, string[]>> {
    const to = idToHex(this.other.nodeId);
    const hello = await this.helloFor(this.tab, toBase64Url(this.random.bytes(32)));
    const payload = samplePayload();
    const frames: Record<string, ClientMessage[]> = {
      hello: [hello],
      peers: [{ type: 'peers', n: 3 }],
      signal: [{ type: 'signal', to, rid: 7, payload }],
      'signal-reply': [{ type: 'signal-reply', to, rid: 7, reply: sampleReply() }, { type: 'signal-reply', to, rid: 8, reply: { busyMs: 1_000 } }],
      ping: [{ type: 'ping' }],
      ice: [{ type: 'ice' }],
      // A connected tab and one nobody has: both answers, and their mutations.
      'is-tab': [{ type: 'is-tab', id: to, rid: 7 }, { type: 'is-tab', id: 'ab'.repeat(20), rid: 8 }],
    };
    return Object.fromEntries(Object.entries(frames).map(([k, v]) => [k, v.map(encodeSignalMessage)]));
  }

  private async helloFor(identity: Identity, nonce: string): Promise<ClientMessage> {
    const sig = await nodeCryptoOps.sign(identity, signalAuthPayload(nonce));
    return { type: 'hello', key: toBase64Url(identity.signingPublic), n: identity.idNonce, id: idToHex(identity.nodeId), sig: toBase64Url(sig) };
  }

  /** A socket through challenge, hello and welcome; null if the hub did not welcome it. */
  private async signIn(identity: Identity): Promise<FakeSocket | null> {
    const ws = this.accept();
    const challenge = ws.received('challenge')[0] as { nonce: string } | undefined;
    if (!challenge) return null;
    const settled = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, SIGN_IN_TIMEOUT_MS);
      const done = () => (clearTimeout(timer), resolve());
      ws.on('sent', (text: string) => text.includes('"welcome"') && done());
      ws.once('close', done);
    });
    ws.receive(encodeSignalMessage(await this.helloFor(identity, challenge.nonce)));
    await settled;
    return ws.received('welcome').length > 0 ? ws : null;
  }

  private accept(): FakeSocket {
    const ws = new FakeSocket();
    this.hub.accept(ws as unknown as WebSocket, ADDRESS);
    return ws;
  }

  /** Half structure-aware, half mutations, interleaved; every other one on a welcomed socket. */
  private async feed(type: string, valid: string[], all: string[]): Promise<void> {
    this.trap.kind = type;
    const at = performance.now();
    const report: SignalKindReport = (this.types[type] = { frames: 0, exceptions: 0, parsed: {}, rejects: {}, relays: {}, wallMs: 0 });
    const before = this.hub.stats();
    const arb = fc.oneof(...valid.map((t) => asText(shaped(JSON.parse(t)))));
    let n = 0;
    for (const chunk of sampleChunks(arb, Math.ceil(this.o.frames / 2), this.o.seed + type.length * 101)) {
      for (const structured of chunk) {
        for (const text of [structured, mutate(this.random, valid[this.random.int(valid.length)]!, all)]) {
          if (n++ >= this.o.frames) break;
          await this.send(report, text, n % 2 === 0);
        }
      }
    }
    await flush(4);
    const after = this.hub.stats();
    report.rejects = delta(before.rejects, after.rejects);
    report.relays = delta(before.relays, after.relays);
    report.exceptions = this.trap.byKind.get(type) ?? 0;
    report.wallMs = Math.round(performance.now() - at);
  }

  private async send(report: SignalKindReport, text: string, welcomed: boolean): Promise<void> {
    report.frames++;
    let verdict: string;
    try {
      const parsed = parseClientMessage(text);
      verdict = parsed.ok ? 'ok' : parsed.reason;
    } catch (err) {
      this.trap.record(err, text);
      verdict = 'threw';
    }
    report.parsed[verdict] = (report.parsed[verdict] ?? 0) + 1;
    // Time moves on 100 ms a frame: the per-socket rate limit refills and is not what drops them.
    this.now += 100;
    const ws = welcomed ? await this.welcomed() : this.accept();
    try {
      ws?.receive(text, this.random.int(200) === 0);
    } catch (err) {
      this.trap.record(err, text);
    }
    await flush(1);
    if (!welcomed) ws?.close();
    if (this.listener) this.listener.sent.length = 0;
  }

  /** The welcomed socket frames go to, signed in again when the last frame closed it. */
  private async welcomed(): Promise<FakeSocket | null> {
    if (this.ready && !this.ready.closed) {
      this.ready.sent.length = 0;
      return this.ready;
    }
    this.ready = await this.signIn(this.tab);
    return this.ready;
  }

  /** Each server message type, structure-aware and mutated, through the tab's parser. */
  private serverFrames(): SignalFuzzReport['serverTypes'] {
    const to = idToHex(this.other.nodeId);
    const from = idToHex(this.tab.nodeId);
    const payload = samplePayload();
    const messages: Record<string, unknown> = {
      challenge: { type: 'challenge', nonce: toBase64Url(this.random.bytes(32)) },
      welcome: { type: 'welcome' },
      features: { type: 'features', names: ['is-tab'] },
      peers: { type: 'peers', ids: [to, from] },
      signal: { type: 'signal', from, to, rid: 7, payload },
      'signal-reply': { type: 'signal-reply', from, to, rid: 7, reply: { busyMs: 1_000 } },
      error: { type: 'error', code: 'NOT_FOUND', rid: 7, msg: 'that node is not connected to this server' },
      pong: { type: 'pong' },
      'is-tab': { type: 'is-tab', rid: 7, id: to, tab: true },
      ice: { type: 'ice', servers: [{ urls: ['stun:stun.example.org:3478'] }, { urls: ['turn:t.example.org:3478'], username: `1700000000:${from}`, credential: 'c2VjcmV0c2VjcmV0c2VjcmV0MTI=' }], ttlS: 3_600 },
    };
    const all = Object.values(messages).map((m) => JSON.stringify(m));
    const out: SignalFuzzReport['serverTypes'] = {};
    for (const [type, message] of Object.entries(messages)) {
      this.trap.kind = `server:${type}`;
      const report = (out[type] = { frames: 0, exceptions: 0, parsed: {} as Record<string, number> });
      const valid = JSON.stringify(message);
      for (const chunk of sampleChunks(asText(shaped(message)), Math.ceil(this.o.frames / 2), this.o.seed + type.length * 211)) {
        for (const structured of chunk) {
          for (const text of [structured, mutate(this.random, valid, all)]) {
            if (report.frames >= this.o.frames) break;
            report.frames++;
            let verdict: string;
            try {
              const parsed = parseServerMessage(text);
              verdict = parsed.ok ? 'ok' : parsed.reason;
            } catch (err) {
              this.trap.record(err, text);
              verdict = 'threw';
            }
            report.parsed[verdict] = (report.parsed[verdict] ?? 0) + 1;
          }
        }
      }
      report.exceptions = this.trap.byKind.get(this.trap.kind) ?? 0;
    }
    return out;
  }

  /** After the fuzz: a new tab is welcomed, gets peers, and reaches the tab that stayed. */
  private async check(): Promise<Record<string, boolean>> {
    this.trap.kind = 'check';
    this.ready?.close();
    this.now += 120_000;
    const honest = await this.signIn(this.tab);
    honest?.receive(encodeSignalMessage({ type: 'peers', n: 8 }));
    honest?.receive(encodeSignalMessage({ type: 'is-tab', id: idToHex(this.other.nodeId), rid: 1 }));
    await flush(4);
    const peers = honest?.received('peers')[0] as { ids: string[] } | undefined;
    const isTab = honest?.received('is-tab')[0] as { tab: boolean } | undefined;
    return {
      welcomesHonestTab: honest !== null,
      handsOutPeers: peers?.ids.includes(idToHex(this.other.nodeId)) ?? false,
      answersIsTab: isTab?.tab === true,
      listenerStillSignedIn: this.listener !== null && !this.listener.closed,
    };
  }
}

function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v !== (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
  return out;
}
