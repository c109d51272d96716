/**
 * A `ws` client for the signal server's tests: queues what the server sends, so a test awaits
 * the next message or the close instead of sleeping.
 */
import WebSocket, { type ClientOptions } from 'ws';
import { webCryptoOps, type Identity } from '../shared/lib/crypto.ts';
import { toBase64Url } from '../shared/lib/encoding.ts';
import { idToHex } from '../shared/lib/id.ts';
import {
  encodeSignalMessage,
  parseServerMessage,
  signalAuthPayload,
  SIGNAL_PATH,
  type ClientMessage,
  type ServerMessage,
  type ServerMessageOf,
} from '../shared/signal/protocol.ts';

export interface Closed {
  code: number;
  reason: string;
}

export class TestClient {
  readonly closed: Promise<Closed>;
  readonly opened: Promise<void>;
  private readonly inbox: ServerMessage[] = [];
  private waiter: (() => void) | undefined;
  private isClosed = false;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const parsed = parseServerMessage(data.toString());
      if (!parsed.ok) throw new Error(`server sent a frame the client drops: ${parsed.reason}`);
      this.inbox.push(parsed.message);
      this.waiter?.();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.isClosed = true;
        this.waiter?.();
        resolve({ code, reason: reason.toString() });
      }),
    );
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
  }

  static connect(baseUrl: string, options?: ClientOptions): TestClient {
    return new TestClient(new WebSocket(baseUrl.replace(/^http/, 'ws').replace(/\/$/, '') + SIGNAL_PATH, options));
  }

  /**
   * The next message from the server, which must be of `type`. A `features` frame (every
   * welcome comes after one) is passed over unless it is what the test waits for.
   */
  async next<T extends ServerMessage['type']>(type: T): Promise<ServerMessageOf<T>> {
    for (;;) {
      while (this.inbox.length === 0) {
        if (this.isClosed) throw new Error(`socket closed while waiting for '${type}'`);
        await new Promise<void>((resolve) => (this.waiter = resolve));
      }
      if (this.inbox[0]!.type !== 'features' || type === 'features') break;
      this.inbox.shift();
    }
    const message = this.inbox.shift()!;
    if (message.type !== type) throw new Error(`expected '${type}', got ${JSON.stringify(message)}`);
    return message as ServerMessageOf<T>;
  }

  send(message: ClientMessage | string): void {
    this.ws.send(typeof message === 'string' ? message : encodeSignalMessage(message));
  }

  /** Answers the challenge as `identity`; `tamper` lets a test lie about the id, the nonce or the id nonce `n`. */
  async hello(identity: Identity, tamper: { id?: string; nonce?: string; n?: number } = {}): Promise<void> {
    const { nonce } = await this.next('challenge');
    const sig = await webCryptoOps.sign(identity, signalAuthPayload(tamper.nonce ?? nonce));
    this.send({
      type: 'hello',
      key: toBase64Url(identity.signingPublic),
      n: tamper.n ?? identity.idNonce,
      id: tamper.id ?? idToHex(identity.nodeId),
      sig: toBase64Url(sig),
    });
  }

  close(): Promise<Closed> {
    this.ws.close();
    return this.closed;
  }
}

/** Connects as `identity` and waits for the welcome. */
export async function joined(baseUrl: string, identity: Identity): Promise<TestClient> {
  const client = TestClient.connect(baseUrl);
  await client.hello(identity);
  await client.next('welcome');
  return client;
}
