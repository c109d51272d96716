import { describe, expect, it } from 'vitest';
import type { NotificationData } from './attention.ts';
import { MAX_HINT_CHARS, followHint, readHint, takeHint } from './open-hint.ts';

const BOB = 'b0b'.padEnd(40, '0');
const ALICE = 'a11ce'.padEnd(40, '0');
const GROUP_ID = '0f'.repeat(16);
const GROUP = `#${GROUP_ID}`;

describe('reading a notification hint from the URL', () => {
  it('reads the identity and the conversation, a group’s, or none (the message requests)', () => {
    expect(readHint(`#as=${BOB}&open=alice`)).toEqual({ identity: BOB, conversation: 'alice' });
    expect(readHint(`#as=${BOB}&open=${encodeURIComponent(GROUP)}`)).toEqual({ identity: BOB, conversation: GROUP });
    expect(readHint(`#open=alice&as=${BOB}`)).toEqual({ identity: BOB, conversation: 'alice' });
    expect(readHint(`#as=${BOB}`)).toEqual({ identity: BOB, conversation: null });
  });

  it('is no hint without a valid node id: missing, short, upper case, not hex', () => {
    for (const hash of ['', '#', '#open=alice', `#as=${BOB.slice(1)}&open=alice`, `#as=${BOB.toUpperCase()}`, `#as=${'g'.repeat(40)}`, `#as=${BOB}0`]) {
      expect(readHint(hash), hash).toBeNull();
    }
  });

  it('is no hint when the conversation is neither a username nor a group’s key', () => {
    const bad = ['al', 'a'.repeat(33), 'Alice', 'alice bob', '<img src=x>', '#123', `${GROUP}0`, GROUP.toUpperCase(), '', 'alice%00'];
    for (const open of bad) expect(readHint(`#as=${BOB}&open=${encodeURIComponent(open)}`), open).toBeNull();
  });

  it('never throws on what a URL can hold, and refuses one longer than MAX_HINT_CHARS unread', () => {
    for (const hash of ['#%', '#as=%E0%A4%A&open=%', '#&&==&', '#as', `#as=${BOB}&open=%ZZ`, '#\u0000\uffff', `#${'&'.repeat(5_000)}`]) {
      expect(() => readHint(hash)).not.toThrow();
    }
    const padded = `#as=${BOB}&open=alice&x=`;
    expect(readHint(padded.padEnd(MAX_HINT_CHARS, 'x'))).not.toBeNull();
    expect(readHint(padded.padEnd(MAX_HINT_CHARS + 1, 'x'))).toBeNull();
  });
});

describe('following a hint once the tab’s session started', () => {
  /** A tab on `screen` with these conversations; `follow` loads the page at a hint's URL and follows it. */
  function tab(screen: 'signed-in' | 'signed-out', peers: string[] = ['alice'], groups: string[] = []) {
    const state = {
      screen,
      conversations: peers.map((peer) => ({ peer, unread: 0, lastAt: 0 })),
      groups: groups.map((id) => ({ id, name: 'g', unread: 0, lastAt: 0, status: 'joined' as const, member: true, members: 2 })),
      hinted: null as string | null,
    };
    const opened: NotificationData[] = [];
    const urls: string[] = [];
    const follow = (hint: NotificationData | string, me = BOB) => {
      const hash = typeof hint === 'string' ? hint : `#${new URLSearchParams({ as: hint.identity, ...(hint.conversation ? { open: hint.conversation } : {}) })}`;
      const location = { hash, pathname: '/twin/', search: '?forge-hello' };
      const history = { state: { kept: true }, replaceState: (data: unknown, _unused: string, url?: string | URL | null) => void urls.push(`${JSON.stringify(data)} ${url}`) };
      followHint({ location, history }, state, me, (d) => opened.push(d));
    };
    return { state, opened, follow, forgotten: () => urls.length, urls };
  }

  it('on the join screen, offers the identity it names and keeps the hint for the sign-in’s reload', () => {
    const t = tab('signed-out');
    t.follow({ identity: BOB, conversation: 'alice' }, ALICE);
    expect(t.state.hinted).toBe(BOB);
    expect(t.opened).toEqual([]);
    expect(t.forgotten()).toBe(0);
  });

  it('signed in as the identity it names, opens the conversation once and forgets the hint', () => {
    const t = tab('signed-in', ['alice'], [GROUP_ID]);
    t.follow({ identity: BOB, conversation: 'alice' });
    t.follow({ identity: BOB, conversation: GROUP });
    t.follow({ identity: BOB, conversation: null });
    expect(t.opened).toEqual([
      { identity: BOB, conversation: 'alice' },
      { identity: BOB, conversation: GROUP },
      { identity: BOB, conversation: null },
    ]);
    // Only the fragment goes: the path (a twin's), the query and the history entry's state stay.
    expect(t.urls).toEqual(Array(3).fill('{"kept":true} /twin/?forge-hello'));
    expect(t.state.hinted).toBeNull();
  });

  it('signed in as another identity, or naming a conversation this one lacks, opens nothing and forgets it', () => {
    const t = tab('signed-in', ['alice']);
    t.follow({ identity: ALICE, conversation: 'alice' });
    t.follow({ identity: ALICE, conversation: null });
    t.follow({ identity: BOB, conversation: 'mallory' });
    t.follow({ identity: BOB, conversation: GROUP });
    expect(t.opened).toEqual([]);
    expect(t.forgotten()).toBe(4);
  });

  it('leaves a fragment that is no hint as it is, signed in or out', () => {
    for (const screen of ['signed-in', 'signed-out'] as const) {
      const t = tab(screen);
      for (const hash of ['#top', `#as=${BOB.slice(2)}&open=alice`, `#as=${BOB}&open=%3Cb%3E`]) t.follow(hash);
      expect([t.opened, t.forgotten(), t.state.hinted]).toEqual([[], 0, null]);
    }
  });
});

describe('a hint the service worker hands a tab on the join screen', () => {
  /** A tab on `screen`, its address without a fragment; `take` hands it what the worker sent. */
  function tab(screen: 'signed-in' | 'signed-out' | 'joining' | 'starting') {
    const state = { screen, conversations: [{ peer: 'alice', unread: 0, lastAt: 0 }], groups: [], hinted: null as string | null };
    const location = { hash: '', pathname: '/twin/', search: '?forge-hello' };
    const urls: string[] = [];
    const history = {
      state: { kept: true },
      replaceState: (_data: unknown, _unused: string, url?: string | URL | null) => {
        urls.push(String(url));
        location.hash = new URL(String(url), 'https://peerchat.example').hash;
      },
    };
    const opened: NotificationData[] = [];
    const take = (hash: unknown) => takeHint({ location, history }, state, ALICE, (d) => opened.push(d), hash);
    return { state, location, urls, opened, take };
  }

  it('becomes the page’s fragment, and the join screen offers its identity as a new window at it would', () => {
    const t = tab('signed-out');
    t.take(`#as=${BOB}&open=alice`);
    expect(t.urls).toEqual([`/twin/?forge-hello#as=${BOB}&open=alice`]);
    expect(readHint(t.location.hash)).toEqual({ identity: BOB, conversation: 'alice' });
    expect(t.state.hinted).toBe(BOB);
    expect(t.opened).toEqual([]);
    // A second click's hint replaces the first.
    t.take(`#as=${ALICE}`);
    expect([t.location.hash, t.state.hinted]).toEqual([`#as=${ALICE}`, ALICE]);
  });

  it('is dropped, the address untouched, when it is no fragment holding a hint: untrusted as an address is', () => {
    const t = tab('signed-out');
    const bad: unknown[] = [undefined, null, 42, { hash: `#as=${BOB}` }, [`#as=${BOB}`], '', '#', `as=${BOB}`, `?as=${BOB}`, `/x#as=${BOB}`];
    bad.push(`#as=${BOB.toUpperCase()}`, `#as=${BOB}&open=${encodeURIComponent('<b>alice')}`, `#as=${BOB}&x=`.padEnd(MAX_HINT_CHARS + 1, 'x'));
    for (const hash of bad) expect(() => t.take(hash)).not.toThrow();
    expect([t.urls, t.location.hash, t.state.hinted, t.opened]).toEqual([[], '', null, []]);
  });

  it('is dropped once the tab left the join screen: signing in or signed in, it chose who it is', () => {
    for (const screen of ['joining', 'signed-in', 'starting'] as const) {
      const t = tab(screen);
      t.take(`#as=${ALICE}&open=alice`);
      expect([t.urls, t.state.hinted, t.opened], screen).toEqual([[], null, []]);
    }
  });
});
