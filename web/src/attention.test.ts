import { describe, expect, it } from 'vitest';
import { APP_TITLE, Attention, NOTIFICATION_BODY_CHARS, type AttentionHost } from './attention.ts';

function host(o: { away?: boolean; notifying?: boolean; badge?: boolean } = {}) {
  const h = {
    title: '',
    badges: [] as number[],
    shown: [] as { title: string; body: string; tag: string; onClick: () => void }[],
    away: o.away ?? true,
    notifying: o.notifying ?? true,
  };
  const api: AttentionHost = {
    setTitle: (t) => (h.title = t),
    away: () => h.away,
    notifying: () => h.notifying,
    notify: (n) => h.shown.push(n),
    ...(o.badge === false ? {} : { badge: (n: number) => h.badges.push(n) }),
  };
  return { h, api };
}

const conv = (peer: string, unread: number) => ({ peer, unread, lastAt: 0 });
const latest = (peer: string) => `latest from ${peer}`;

describe('attention', () => {
  it('shows the unread messages and requests in the title and on the badge, and clears both', () => {
    const { h, api } = host({ away: false });
    const a = new Attention(api, () => {});
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
    const a = new Attention(api, () => {});
    for (let i = 0; i < 3; i++) a.update([conv('alice', 1)], [], latest);
    expect(h.badges).toEqual([1]);
  });

  it('works without a badge (a browser tab, not the installed app)', () => {
    const { h, api } = host({ badge: false });
    new Attention(api, () => {}).update([conv('alice', 1)], [], latest);
    expect(h.title).toBe(`(1) ${APP_TITLE}`);
  });

  it('notifies a message that arrives while the user is away, and a click opens its conversation', () => {
    const { h, api } = host();
    const opened: string[] = [];
    const a = new Attention(api, (peer) => opened.push(peer));
    a.update([conv('alice', 0)], [], latest);
    a.update([conv('alice', 1)], [], latest);
    expect(h.shown.map(({ title, body, tag }) => ({ title, body, tag }))).toEqual([{ title: 'alice', body: 'latest from alice', tag: 'peerchat:alice' }]);
    h.shown[0]!.onClick();
    expect(opened).toEqual(['alice']);
  });

  it('counts and notifies a group under its name, and a click opens the group', () => {
    const { h, api } = host();
    const opened: string[] = [];
    const a = new Attention(api, (peer) => opened.push(peer));
    const group = (unread: number) => ({ peer: '#ab12', unread, title: 'Trip' });
    a.update([conv('alice', 1), group(0)], [], latest);
    a.update([conv('alice', 1), group(2)], [], (peer) => (peer === '#ab12' ? 'ben: I do' : 'x'));
    expect(h.title).toBe(`(3) ${APP_TITLE}`);
    expect(h.shown.map(({ title, body, tag }) => ({ title, body, tag }))).toEqual([{ title: 'Trip', body: 'ben: I do', tag: 'peerchat:#ab12' }]);
    h.shown[0]!.onClick();
    expect(opened).toEqual(['#ab12']);
  });

  it('does not notify the history a sign-in loads, nor what was read or was there before', () => {
    const { h, api } = host();
    const a = new Attention(api, () => {});
    a.update([conv('alice', 5)], [{ key: 'k1', name: 'erin', firstText: 'hi' }], latest);
    a.update([conv('alice', 5)], [{ key: 'k1', name: 'erin', firstText: 'hi' }], latest);
    a.update([conv('alice', 0)], [], latest);
    expect(h.shown).toEqual([]);
  });

  it('does not notify while the user looks at the tab, or with notifications off', () => {
    for (const o of [{ away: false }, { notifying: false }]) {
      const { h, api } = host(o);
      const a = new Attention(api, () => {});
      a.update([], [], latest);
      a.update([conv('alice', 1)], [{ key: 'k1', name: 'erin', firstText: 'hi' }], latest);
      expect(h.shown).toEqual([]);
      expect(h.title).toBe(`(2) ${APP_TITLE}`);
    }
  });

  it('notifies a new message request under the name it claims, said to be unverified', () => {
    const { h, api } = host();
    const a = new Attention(api, () => {});
    a.update([], [], latest);
    a.update([], [{ key: 'k1', name: 'erin', firstText: 'it is me' }], latest);
    a.update([], [{ key: 'k1', name: 'erin', firstText: 'it is me' }], latest);
    expect(h.shown.map(({ title, body }) => ({ title, body }))).toEqual([{ title: 'Message request: erin (not verified)', body: 'it is me' }]);
  });

  it('clips a long message to NOTIFICATION_BODY_CHARS characters, not code units', () => {
    const { h, api } = host();
    const a = new Attention(api, () => {});
    a.update([], [], latest);
    a.update([conv('alice', 1)], [], () => '😀'.repeat(500));
    const body = h.shown[0]!.body;
    expect([...body]).toHaveLength(NOTIFICATION_BODY_CHARS);
    expect(body.endsWith('…')).toBe(true);
  });
});
