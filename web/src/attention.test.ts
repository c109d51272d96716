import { describe, expect, it } from 'vitest';
import { APP_TITLE, Attention, NOTIFICATION_BODY_CHARS, RENOTIFY_QUIET_MS, type AttentionHost, type Notice } from './attention.ts';

function host(o: { away?: boolean; notifying?: boolean; badge?: boolean } = {}) {
  const h = {
    title: '',
    badges: [] as number[],
    shown: [] as Notice[],
    dismissed: [] as string[],
    away: o.away ?? true,
    notifying: o.notifying ?? true,
  };
  const api: AttentionHost = {
    setTitle: (t) => (h.title = t),
    away: () => h.away,
    notifying: () => h.notifying,
    notify: (n) => h.shown.push(n),
    dismiss: (tag) => h.dismissed.push(tag),
    ...(o.badge === false ? {} : { badge: (n: number) => h.badges.push(n) }),
  };
  return { h, api };
}

const conv = (peer: string, unread: number) => ({ peer, unread, lastAt: 0 });
/** This tab's node id, which tags and notification data carry. */
const ME = 'b0b'.padEnd(40, '0');

/** Attention for the tab of ME, with a clock the test moves; `opened` lists what clicks opened (null: the requests). */
function attention(api: AttentionHost, opened: (string | null)[] = [], clock = { ms: 0 }) {
  return new Attention(api, { identity: ME, open: (peer) => opened.push(peer), now: () => clock.ms });
}
const latest = (peer: string) => `latest from ${peer}`;

describe('attention', () => {
  it('shows the unread messages and requests in the title and on the badge, and clears both', () => {
    const { h, api } = host({ away: false });
    const a = attention(api);
    a.update([conv('alice', 2), conv('bob', 0)], [], latest);
    expect(h.title).toBe(`(2) ${APP_TITLE}`);
    a.update([conv('alice', 2), conv('bob', 0)], [{ key: 'k1', name: 'erin', firstText: 'hi' }], latest);
    expect(h.title).toBe(`(3) ${APP_TITLE}`);
    a.update([conv('alice', 0), conv('bob', 0)], [], latest);
    expect(h.title).toBe(APP_TITLE);
    expect(h.badges).toEqual([2, 3, 0]);
  });

  it('sets the title and badge only when the count changes', () => {
    const { h, api } = host({ away: false });
    const a = attention(api);
    for (let i = 0; i < 3; i++) a.update([conv('alice', 1)], [], latest);
    expect(h.badges).toEqual([1]);
  });

  it('works without a badge (a browser tab, not the installed app)', () => {
    const { h, api } = host({ badge: false });
    attention(api).update([conv('alice', 1)], [], latest);
    expect(h.title).toBe(`(1) ${APP_TITLE}`);
  });

  it('notifies a message that arrives while the user is away, and a click opens its conversation', () => {
    const { h, api } = host();
    const opened: string[] = [];
    const a = attention(api, opened);
    a.update([conv('alice', 0)], [], latest);
    a.update([conv('alice', 1)], [], latest);
    expect(h.shown).toEqual([{ title: 'alice', body: 'latest from alice', tag: `peerchat:${ME}:alice`, renotify: true, data: { identity: ME, conversation: 'alice' } }]);
    // The click comes back with the notification's data, maybe through the service worker.
    expect(a.clicked(structuredClone(h.shown[0]!.data))).toBe(true);
    expect(opened).toEqual(['alice']);
  });

  it('closes a conversation’s notification once it is read in the tab, and a request’s once answered', () => {
    const { h, api } = host();
    const a = attention(api);
    a.update([conv('alice', 0), conv('bob', 0)], [], latest);
    a.update([conv('alice', 2), conv('bob', 1)], [{ key: 'k1', name: 'erin', firstText: 'hi' }], latest);
    expect(h.shown).toHaveLength(3);
    // Still unread: nothing closes, however often the Chat changes.
    a.update([conv('alice', 2), conv('bob', 1)], [{ key: 'k1', name: 'erin', firstText: 'hi' }], latest);
    expect(h.dismissed).toEqual([]);
    h.away = false;
    a.update([conv('alice', 0), conv('bob', 1)], [], latest);
    expect(h.dismissed).toEqual([`peerchat:${ME}:alice`, `peerchat:${ME}:request:k1`]);
    // Read already: not closed again.
    a.update([conv('alice', 0), conv('bob', 1)], [], latest);
    expect(h.dismissed).toHaveLength(2);
  });

  it('counts and notifies a group under its name, and a click opens the group', () => {
    const { h, api } = host();
    const opened: string[] = [];
    const a = attention(api, opened);
    const group = (unread: number) => ({ peer: '#ab12', unread, title: 'Trip' });
    a.update([conv('alice', 1), group(0)], [], latest);
    a.update([conv('alice', 1), group(2)], [], (peer) => (peer === '#ab12' ? 'ben: I do' : 'x'));
    expect(h.title).toBe(`(3) ${APP_TITLE}`);
    expect(h.shown.map(({ title, body, tag }) => ({ title, body, tag }))).toEqual([{ title: 'Trip', body: 'ben: I do', tag: `peerchat:${ME}:#ab12` }]);
    a.clicked(h.shown[0]!.data);
    expect(opened).toEqual(['#ab12']);
  });

  it('does not notify the history a sign-in loads, nor what was read or was there before', () => {
    const { h, api } = host();
    const a = attention(api);
    a.update([conv('alice', 5)], [{ key: 'k1', name: 'erin', firstText: 'hi' }], latest);
    a.update([conv('alice', 5)], [{ key: 'k1', name: 'erin', firstText: 'hi' }], latest);
    a.update([conv('alice', 0)], [], latest);
    expect(h.shown).toEqual([]);
  });

  it('does not notify while the user looks at the tab, or with notifications off', () => {
    for (const o of [{ away: false }, { notifying: false }]) {
      const { h, api } = host(o);
      const a = attention(api);
      a.update([], [], latest);
      a.update([conv('alice', 1)], [{ key: 'k1', name: 'erin', firstText: 'hi' }], latest);
      expect(h.shown).toEqual([]);
      expect(h.title).toBe(`(2) ${APP_TITLE}`);
    }
  });

  it('notifies a new message request under the name it claims, said to be unverified', () => {
    const { h, api } = host();
    const a = attention(api);
    a.update([], [], latest);
    a.update([], [{ key: 'k1', name: 'erin', firstText: 'it is me' }], latest);
    a.update([], [{ key: 'k1', name: 'erin', firstText: 'it is me' }], latest);
    expect(h.shown.map(({ title, body, tag }) => ({ title, body, tag }))).toEqual([
      { title: 'Message request: erin (not verified)', body: 'it is me', tag: `peerchat:${ME}:request:k1` },
    ]);
  });

  it('a click on a request notification opens the message requests, no conversation', () => {
    const { h, api } = host();
    const opened: (string | null)[] = [];
    const a = attention(api, opened);
    a.update([], [], latest);
    a.update([], [{ key: 'k1', name: 'erin', firstText: 'it is me' }], latest);
    expect(h.shown[0]!.data).toEqual({ identity: ME, conversation: null });
    expect(a.clicked(h.shown[0]!.data)).toBe(true);
    expect(opened).toEqual([null]);
  });

  it('a click on another identity’s notification, or on something else, opens nothing here', () => {
    const opened: string[] = [];
    const a = attention(host().api, opened);
    for (const data of [{ identity: 'a11ce'.padEnd(40, '0'), conversation: 'bob' }, null, undefined, 'alice', { conversation: 'alice' }]) {
      expect(a.clicked(data)).toBe(false);
    }
    expect(opened).toEqual([]);
  });

  it('gives a conversation one tag, so a burst replaces its notification, alerting again only after a quiet spell', () => {
    const { h, api } = host();
    const clock = { ms: 0 };
    const a = attention(api, [], clock);
    a.update([conv('alice', 0)], [], latest);
    for (let unread = 1; unread <= 30; unread++) {
      clock.ms += 100;
      a.update([conv('alice', unread)], [], (peer) => `message ${unread} from ${peer}`);
    }
    expect(new Set(h.shown.map((n) => n.tag))).toEqual(new Set([`peerchat:${ME}:alice`]));
    expect(h.shown.map((n) => n.renotify)).toEqual([true, ...Array<boolean>(29).fill(false)]);
    expect(h.shown.at(-1)!.body).toBe('message 30 from alice');
    clock.ms += RENOTIFY_QUIET_MS;
    a.update([conv('alice', 31)], [], latest);
    expect(h.shown.at(-1)!.renotify).toBe(true);
  });

  it('alerts for the next message once the conversation was read, however soon', () => {
    const { h, api } = host();
    const clock = { ms: 0 };
    const a = attention(api, [], clock);
    a.update([conv('alice', 0)], [], latest);
    a.update([conv('alice', 1)], [], latest);
    clock.ms += 1_000;
    a.update([conv('alice', 0)], [], latest);
    a.update([conv('alice', 1)], [], latest);
    expect(h.shown.map((n) => n.renotify)).toEqual([true, true]);
  });

  it('tags the same conversation apart for two identities, which share the origin’s notifications', () => {
    const tags = ['a11ce', 'b0b'].map((id) => {
      const { h, api } = host();
      const a = new Attention(api, { identity: id, open: () => {}, now: () => 0 });
      a.update([conv('carol', 0)], [], latest);
      a.update([conv('carol', 1)], [], latest);
      return h.shown[0]!.tag;
    });
    expect(tags).toEqual(['peerchat:a11ce:carol', 'peerchat:b0b:carol']);
  });

  it('clips a long message to NOTIFICATION_BODY_CHARS characters, not code units', () => {
    const { h, api } = host();
    const a = attention(api);
    a.update([], [], latest);
    a.update([conv('alice', 1)], [], () => '😀'.repeat(500));
    const body = h.shown[0]!.body;
    expect([...body]).toHaveLength(NOTIFICATION_BODY_CHARS);
    expect(body.endsWith('…')).toBe(true);
  });
});
