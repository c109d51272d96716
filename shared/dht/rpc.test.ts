import { describe, expect, it } from 'vitest';
import { FakeClock } from '../lib/clock.ts';
import { ErrorCode, isPeerchatError, type PeerchatError } from '../lib/errors.ts';
import { parseFrame, type RequestFrame, type ResponseBody } from './protocol.ts';
import { RpcChannel, type Reply } from './rpc.ts';

const LATENCY_MS = 5;
const hex = (digit: string) => digit.repeat(40);
/** A well-formed contact (dht/contacts.ts) whose nonce says which target it answers. */
const contact = (target: string) => ({ key: 'A'.repeat(43), n: target.charCodeAt(0) });

type Handler = (request: RequestFrame, reply: Reply) => void;
type DropReason = 'unmatched-reply' | 'bad-reply-body';

interface End {
  rpc: RpcChannel;
  /** Frames this end handed to the wire. */
  sent: string[];
  drops: DropReason[];
  handle: Handler;
}

/**
 * Two channels back to back: every frame is parsed with parseFrame, as an untrusted frame would
 * be, and delivered to the other end's receive after LATENCY_MS on the fake clock.
 */
function pair(clock = new FakeClock()) {
  const make = (other: () => End): End => {
    const end: End = {
      sent: [],
      drops: [],
      handle: () => {},
      rpc: new RpcChannel({
        clock,
        send: (text) => {
          end.sent.push(text);
          clock.setTimeout(() => {
            const parsed = parseFrame(text);
            if (!parsed.ok) throw new Error(`the wire carried an unparseable frame: ${parsed.reason}`);
            other().rpc.receive(parsed.frame);
          }, LATENCY_MS);
          return true;
        },
        onRequest: (request, reply) => end.handle(request, reply),
        onDrop: (reason) => end.drops.push(reason),
      }),
    };
    return end;
  };
  const a: End = make(() => b);
  const b: End = make(() => a);
  return { clock, a, b };
}

/** Lets promise callbacks run; no wall time passes. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

/** Watches a promise so a test can ask whether it has settled yet. */
function watch<T>(p: Promise<T>) {
  const w: { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: PeerchatError } = { state: 'pending' };
  p.then(
    (value) => Object.assign(w, { state: 'resolved', value }),
    (error: PeerchatError) => Object.assign(w, { state: 'rejected', error }),
  );
  return w;
}

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<PeerchatError> {
  const err = await p.then(
    () => {
      throw new Error(`expected a rejection with ${code}`);
    },
    (e: unknown) => e,
  );
  expect(isPeerchatError(err, code), String(err)).toBe(true);
  return err as PeerchatError;
}

describe('RpcChannel requests and replies', () => {
  it('resolves a request with the body its peer replies', async () => {
    const { clock, a, b } = pair();
    b.handle = (req, reply) => {
      if (req.m === 'FIND_NODE') reply.ok({ nodes: [contact(req.b.target)] });
    };
    const p = a.rpc.request('FIND_NODE', { target: hex('a') }, 1_000);
    clock.advance(2 * LATENCY_MS);
    await expect(p).resolves.toEqual({ nodes: [contact(hex('a'))] });
    expect(a.rpc.inFlight).toBe(0);
  });

  it('matches concurrent requests to their replies when the replies come back in reverse order', async () => {
    const { clock, a, b } = pair();
    const held: Array<() => void> = [];
    b.handle = (req, reply) => {
      if (req.m === 'FIND_NODE') held.push(() => reply.ok({ nodes: [contact(req.b.target)] }));
    };
    const targets = ['1', '2', '3', '4', '5'].map(hex);
    const ps = targets.map((target) => a.rpc.request('FIND_NODE', { target }, 1_000));
    expect(a.rpc.inFlight).toBe(5);
    clock.advance(LATENCY_MS);
    expect(held).toHaveLength(5);
    for (const answer of held.reverse()) answer();
    clock.advance(LATENCY_MS);
    expect(await Promise.all(ps)).toEqual(targets.map((t) => ({ nodes: [contact(t)] })));
    expect(a.rpc.inFlight).toBe(0);
    expect(a.drops).toEqual([]);
  });

  it('numbers concurrent requests distinctly', () => {
    const { a } = pair();
    for (let i = 0; i < 4; i++) void a.rpc.request('PING', {}, 1_000).catch(() => {});
    const ids = a.sent.map((s) => (JSON.parse(s) as { id: number }).id);
    expect(new Set(ids).size).toBe(4);
  });

  it('carries the route of a routed request to the handler', async () => {
    const { clock, a, b } = pair();
    const route = { k: hex('c'), h: 1, max: 20, ms: 9_000 };
    let seen: RequestFrame | null = null;
    b.handle = (req, reply) => {
      seen = req;
      reply.ok({});
    };
    const p = a.rpc.request('PING', {}, 1_000, route);
    clock.advance(2 * LATENCY_MS);
    await p;
    expect(seen).toMatchObject({ t: 'req', m: 'PING', r: route });
  });

  it('rejects with TIMEOUT only once the clock passes the deadline, and counts the late reply', async () => {
    const { clock, a, b } = pair();
    let late: Reply | null = null;
    b.handle = (_req, reply) => {
      late = reply;
    };
    const w = watch(a.rpc.request('PING', {}, 2_000));
    clock.advance(1_999);
    await flush();
    expect(w.state).toBe('pending');
    clock.advance(1);
    await flush();
    expect(w.state).toBe('rejected');
    expect(w.error?.code).toBe(ErrorCode.Timeout);
    expect(a.rpc.inFlight).toBe(0);
    late!.ok({});
    clock.advance(LATENCY_MS);
    expect(a.drops).toEqual(['unmatched-reply']);
  });

  it('rejects a reply whose body does not fit the method with BAD_REQUEST and counts it', async () => {
    const { clock, a, b } = pair();
    b.handle = (_req, reply) => reply.ok({ nodes: 'everyone' } as unknown as ResponseBody);
    const p = a.rpc.request('FIND_NODE', { target: hex('a') }, 1_000);
    clock.advance(2 * LATENCY_MS);
    await expectCode(p, ErrorCode.BadRequest);
    expect(a.drops).toEqual(['bad-reply-body']);
    expect(a.rpc.inFlight).toBe(0);
  });

  it('counts a reply or error that matches no request and carries on', async () => {
    const { clock, a, b } = pair();
    a.rpc.receive({ t: 'res', id: 4242, b: {} });
    a.rpc.receive({ t: 'err', id: 4243, code: 'NOT_FOUND', msg: 'nothing' });
    expect(a.drops).toEqual(['unmatched-reply', 'unmatched-reply']);
    b.handle = (_req, reply) => reply.ok({});
    const p = a.rpc.request('PING', {}, 1_000);
    clock.advance(2 * LATENCY_MS);
    await expect(p).resolves.toEqual({});
  });
});

describe('RpcChannel error replies', () => {
  it('rejects with the code and message the peer sent', async () => {
    const { clock, a, b } = pair();
    b.handle = (_req, reply) => reply.error(ErrorCode.NotFound, 'No such node here; look it up again.');
    const p = a.rpc.request('FIND_NODE', { target: hex('d') }, 1_000);
    clock.advance(2 * LATENCY_MS);
    const err = await expectCode(p, ErrorCode.NotFound);
    expect(err.message).toBe('No such node here; look it up again.');
  });

  it('turns a code this build does not know into REJECTED', async () => {
    const { clock, a } = pair();
    const p = a.rpc.request('PING', {}, 1_000);
    const id = (JSON.parse(a.sent[0]!) as { id: number }).id;
    a.rpc.receive({ t: 'err', id, code: 'FROM_THE_FUTURE', msg: 'new' });
    clock.advance(2 * LATENCY_MS);
    await expectCode(p, ErrorCode.Rejected);
  });

  it('answers BAD_REQUEST when the reply would be over the frame limit', async () => {
    const { clock, a, b } = pair();
    b.handle = (_req, reply) => reply.ok({ nodes: Array.from({ length: 2_000 }, () => contact(hex('e'))) });
    const p = a.rpc.request('FIND_NODE', { target: hex('a') }, 1_000);
    clock.advance(2 * LATENCY_MS);
    await expectCode(p, ErrorCode.BadRequest);
    expect(b.sent).toHaveLength(1);
  });

  it('replyError answers a request the owner could not parse', async () => {
    const { clock, a, b } = pair();
    b.handle = () => {};
    const p = a.rpc.request('PING', {}, 1_000);
    const id = (JSON.parse(a.sent[0]!) as { id: number }).id;
    b.rpc.replyError(id, ErrorCode.UnknownMethod, 'x'.repeat(1_000));
    clock.advance(2 * LATENCY_MS);
    const err = await expectCode(p, ErrorCode.UnknownMethod);
    expect(err.message).toHaveLength(256);
  });
});

describe('Reply', () => {
  it('sends only the first answer, whether ok or error', async () => {
    const { clock, a, b } = pair();
    b.handle = (req, reply) => {
      if (req.m !== 'PING') return;
      reply.ok({});
      reply.ok({});
      reply.error(ErrorCode.Busy, 'late');
    };
    const p = a.rpc.request('PING', {}, 1_000);
    clock.advance(2 * LATENCY_MS);
    await expect(p).resolves.toEqual({});
    expect(b.sent).toHaveLength(1);
    expect(a.drops).toEqual([]);
  });

  it('sends nothing once its channel has closed', () => {
    const { clock, a, b } = pair();
    const replies: Reply[] = [];
    b.handle = (_req, reply) => replies.push(reply);
    void a.rpc.request('PING', {}, 1_000).catch(() => {});
    void a.rpc.request('PING', {}, 1_000).catch(() => {});
    clock.advance(LATENCY_MS);
    b.rpc.close('test over');
    replies[0]!.ok({});
    replies[1]!.error(ErrorCode.Busy, 'too late');
    b.rpc.replyError(1, ErrorCode.BadRequest, 'too late');
    expect(b.sent).toEqual([]);
  });
});

describe('RpcChannel.close', () => {
  it('rejects everything in flight with CHANNEL_CLOSED and is idempotent', async () => {
    const { clock, a } = pair();
    const ps = [a.rpc.request('PING', {}, 1_000), a.rpc.request('FIND_NODE', { target: hex('a') }, 1_000)];
    const watched = ps.map(watch);
    a.rpc.close('peer left');
    a.rpc.close('again');
    for (const p of ps) expect((await expectCode(p, ErrorCode.ChannelClosed)).message).toContain('peer left');
    expect(a.rpc.inFlight).toBe(0);
    clock.advance(5_000);
    await flush();
    expect(watched.map((w) => w.error?.code)).toEqual([ErrorCode.ChannelClosed, ErrorCode.ChannelClosed]);
  });

  it('releases its request timers', () => {
    const clock = new FakeClock();
    const rpc = new RpcChannel({ clock, send: () => true, onRequest: () => {}, onDrop: () => {} });
    void rpc.request('PING', {}, 1_000).catch(() => {});
    void rpc.request('PING', {}, 1_000).catch(() => {});
    expect(clock.pending).toBe(2);
    rpc.close('done');
    expect(clock.pending).toBe(0);
  });

  it('rejects new requests without sending them', async () => {
    const { a } = pair();
    a.rpc.close('gone');
    await expectCode(a.rpc.request('PING', {}, 1_000), ErrorCode.ChannelClosed);
    expect(a.sent).toEqual([]);
  });

  it('counts replies that arrive after close as unmatched', () => {
    const { clock, a, b } = pair();
    b.handle = (_req, reply) => reply.ok({});
    void a.rpc.request('PING', {}, 1_000).catch(() => {});
    clock.advance(LATENCY_MS);
    a.rpc.close('gone');
    clock.advance(LATENCY_MS);
    expect(a.drops).toEqual(['unmatched-reply']);
  });
});

describe('RpcChannel sending', () => {
  it('rejects with CHANNEL_CLOSED at once when the connection will not take the frame', async () => {
    const clock = new FakeClock();
    const rpc = new RpcChannel({ clock, send: () => false, onRequest: () => {}, onDrop: () => {} });
    await expectCode(rpc.request('PING', {}, 1_000), ErrorCode.ChannelClosed);
    expect(rpc.inFlight).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('rejects with BAD_REQUEST, sending nothing, a request over the frame limit', async () => {
    const { clock, a } = pair();
    const body = { from: hex('a'), to: hex('b'), conn: 'c1', data: 'x'.repeat(70_000), key: 'A'.repeat(43), n: 0, at: 0, sig: 'A'.repeat(86) };
    await expectCode(a.rpc.request('SIGNAL', body, 1_000), ErrorCode.BadRequest);
    expect(a.sent).toEqual([]);
    expect(a.rpc.inFlight).toBe(0);
    expect(clock.pending).toBe(0);
  });
});
