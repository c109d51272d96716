/**
 * web/public/notification-click.js, the service worker's click handler, run against a fake
 * worker scope: which window it asks, which it focuses or hands the hint, when it opens one and
 * at what address, with each kind of answer a window gives (its own, free, another's, none).
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LOCK_PREFIX } from '../storage/tab-identity.ts';
import type { NotificationData } from './attention.ts';
import { CLICK_MESSAGE, HINT_MESSAGE } from './browser-attention.ts';
import { readHint } from './open-hint.ts';

const SOURCE = readFileSync(new URL('../public/notification-click.js', import.meta.url), 'utf8');
const SCOPE = 'https://peerchat.example/';
const BOB = 'b0b'.padEnd(40, '0');
const DATA: NotificationData = { identity: BOB, conversation: 'alice' };
const HINT = `#as=${BOB}&open=alice`;

/** How a window answers the worker's question, as browser-attention.ts does; undefined: never (frozen). */
type Answer = true | 'free' | false | undefined;

let ids = 0;

/** A Peerchat window that answers the worker's question with `answer`. */
function peerchatWindow(answer: Answer, focus: () => Promise<unknown> = async () => undefined) {
  const w = {
    id: `window-${++ids}`,
    asked: [] as unknown[],
    /** What it was sent without a port: the hint. */
    handed: [] as unknown[],
    focus: vi.fn(async () => (await focus(), w)),
    postMessage(message: unknown, ports: MessagePort[] = []) {
      const [port] = ports;
      if (!port) return void w.handed.push(message);
      w.asked.push(message);
      if (answer !== undefined) port.postMessage(answer);
      port.close();
    },
  };
  return w;
}
type PeerchatWindow = ReturnType<typeof peerchatWindow>;

/**
 * The Web Locks the worker sees: bob's identity held by a tab ('held'), free ('free': only
 * alice's is), or no Web Locks at all ('none').
 */
type Locks = 'held' | 'free' | 'none';

/** Loads the handler into a fake worker scope with these windows; returns a click on a notification. */
function worker(windows: PeerchatWindow[], locks: Locks = 'none') {
  let handler: ((event: unknown) => void) | undefined;
  const openWindow = vi.fn(async (_url: string) => null);
  // Chromium's clientId is none of the windows' ids, as notification-click.js says.
  const held = [{ name: `${LOCK_PREFIX}${'a11ce'.padEnd(40, '0')}`, mode: 'exclusive', clientId: 'A1' }];
  if (locks === 'held') held.push({ name: LOCK_PREFIX + BOB, mode: 'exclusive', clientId: 'B0' });
  const scope = {
    registration: { scope: SCOPE },
    clients: { matchAll: async (o: unknown) => (expect(o).toEqual({ type: 'window', includeUncontrolled: true }), windows), openWindow },
    navigator: locks === 'none' ? {} : { locks: { query: async () => ({ held, pending: [] }) } },
    addEventListener: (type: string, listener: (event: unknown) => void) => {
      if (type === 'notificationclick') handler = listener;
    },
  };
  new Function('self', SOURCE)(scope);
  const click = (data: unknown = DATA) => {
    const notification = { data: structuredClone(data), close: vi.fn() };
    let done: Promise<unknown> = Promise.resolve();
    handler!({ notification, waitUntil: (p: Promise<unknown>) => (done = p) });
    return { notification, done };
  };
  return { click, openWindow };
}

/** Which windows were focused, and which were handed the hint. */
const outcome = (windows: PeerchatWindow[]) => ({
  focused: windows.filter((w) => w.focus.mock.calls.length > 0).map((w) => w.id),
  handed: windows.filter((w) => w.handed.length > 0).map((w) => w.id),
});

/** The answers that come travel through real MessageChannels: a few turns of the event loop. */
async function answersIn(): Promise<void> {
  for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Its click, once the worker stopped waiting for the windows that never answer: a second of
 * faked time (faked only from `silence()`, so the answers arrive first).
 */
async function pastSilence({ done }: { done: Promise<unknown> }): Promise<unknown> {
  await answersIn();
  await vi.advanceTimersByTimeAsync(1_000);
  return done;
}
const silence = () => vi.useFakeTimers({ toFake: ['setTimeout'] });

afterEach(() => void vi.useRealTimers());

describe('a click on a notification, in the service worker', () => {
  it('closes it, asks every window, and focuses the one whose identity it is', async () => {
    const [other, free, own] = [peerchatWindow(false), peerchatWindow('free'), peerchatWindow(true)];
    const { click, openWindow } = worker([other, free, own], 'free');
    const { notification, done } = click();
    await done;
    expect(notification.close).toHaveBeenCalled();
    for (const w of [other, free, own]) expect(w.asked).toEqual([{ type: CLICK_MESSAGE, data: DATA }]);
    expect(outcome([other, free, own])).toEqual({ focused: [own.id], handed: [] });
    expect(openWindow).not.toHaveBeenCalled();
  });

  it('hands a window on the join screen the hint and focuses it when the notification’s tab was closed', async () => {
    const [other, free, second] = [peerchatWindow(false), peerchatWindow('free'), peerchatWindow('free')];
    const { click, openWindow } = worker([other, free, second], 'free');
    await click().done;
    expect(outcome([other, free, second])).toEqual({ focused: [free.id], handed: [free.id] });
    expect(free.handed).toEqual([{ type: HINT_MESSAGE, hint: HINT }]);
    // What the page reads it as is what a new window's address would say.
    expect(readHint((free.handed[0] as { hint: string }).hint)).toEqual(DATA);
    expect(openWindow).not.toHaveBeenCalled();
  });

  it('opens a new window at the hint when every window is signed in as someone else', async () => {
    const windows = [peerchatWindow(false), peerchatWindow(false)];
    const { click, openWindow } = worker(windows, 'free');
    await click().done;
    expect(openWindow).toHaveBeenCalledWith(SCOPE + HINT);
    expect(outcome(windows)).toEqual({ focused: [], handed: [] });
  });

  it('focuses a silent window while the identity’s lock is held: its own tab, frozen, opens the conversation as it thaws', async () => {
    silence();
    const [free, frozen, other] = [peerchatWindow('free'), peerchatWindow(undefined), peerchatWindow(false)];
    const { click, openWindow } = worker([free, frozen, other], 'held');
    await pastSilence(click());
    expect(outcome([free, frozen, other])).toEqual({ focused: [frozen.id], handed: [] });
    // The question it will read once it runs again.
    expect(frozen.asked).toEqual([{ type: CLICK_MESSAGE, data: DATA }]);
    expect(openWindow).not.toHaveBeenCalled();
  });

  it('focuses a silent window, not a free one or a new window, when the worker cannot read the locks', async () => {
    silence();
    const [free, frozen] = [peerchatWindow('free'), peerchatWindow(undefined)];
    const { click, openWindow } = worker([free, frozen], 'none');
    await pastSilence(click());
    expect(outcome([free, frozen])).toEqual({ focused: [frozen.id], handed: [] });
    expect(openWindow).not.toHaveBeenCalled();
  });

  it('takes silence for nothing when the identity’s lock is free: its tab was closed', async () => {
    silence();
    // Alice's lock is held, not bob's.
    const [frozen, free] = [peerchatWindow(undefined), peerchatWindow('free')];
    const { click } = worker([frozen, free], 'free');
    await pastSilence(click());
    expect(outcome([frozen, free])).toEqual({ focused: [free.id], handed: [free.id] });

    const [frozenToo, other] = [peerchatWindow(undefined), peerchatWindow(false)];
    const again = worker([frozenToo, other], 'free');
    await pastSilence(again.click());
    expect(again.openWindow).toHaveBeenCalledWith(SCOPE + HINT);
    expect(outcome([frozenToo, other]).focused).toEqual([]);
  });

  it('hands the hint or opens as usual when the lock is held but every window answered: its tab is still starting', async () => {
    const [free, starting] = [peerchatWindow('free'), peerchatWindow(false)];
    const { click } = worker([starting, free], 'held');
    await click().done;
    expect(outcome([starting, free])).toEqual({ focused: [free.id], handed: [free.id] });
    const again = worker([peerchatWindow(false)], 'held');
    await again.click().done;
    expect(again.openWindow).toHaveBeenCalledWith(SCOPE + HINT);
  });

  it('opens Peerchat when no window of it is open, at an address that says what the click was about', async () => {
    const { click, openWindow } = worker([]);
    await click().done;
    expect(openWindow).toHaveBeenCalledWith(`${SCOPE}#as=${BOB}&open=alice`);
  });

  it('opens an address the page reads back as the notification’s data: a person’s, a group’s, a request’s', async () => {
    const { click, openWindow } = worker([]);
    const all: NotificationData[] = [DATA, { identity: BOB, conversation: `#${'0f'.repeat(16)}` }, { identity: BOB, conversation: null }];
    for (const data of all) await click(data).done;
    const urls = openWindow.mock.calls.map(([url]) => new URL(url));
    expect(urls.map((u) => u.origin + u.pathname + u.search)).toEqual(all.map(() => SCOPE));
    expect(urls.map((u) => readHint(u.hash))).toEqual(all);
  });

  it('opens the bare scope, or hands an empty hint, for data that names nothing', async () => {
    const { click, openWindow } = worker([], 'free');
    for (const data of [null, {}, 'alice', { identity: 7, conversation: ['x'] }]) await click(data).done;
    expect(openWindow.mock.calls).toEqual([[SCOPE], [SCOPE], [SCOPE], [SCOPE]]);
    const free = peerchatWindow('free');
    await worker([free], 'free').click(null).done;
    expect(free.handed).toEqual([{ type: HINT_MESSAGE, hint: '' }]);
  });

  it('waits at most a second for a frozen tab', async () => {
    silence();
    const [frozen, free] = [peerchatWindow(undefined), peerchatWindow('free')];
    const { click } = worker([frozen, free], 'free');
    let settled = false;
    const { done } = click();
    void done.then(() => (settled = true));
    await answersIn();
    await vi.advanceTimersByTimeAsync(999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await done;
    expect(outcome([frozen, free])).toEqual({ focused: [free.id], handed: [free.id] });
  });

  it('settles when the browser does not let it focus: the page opened the conversation already', async () => {
    const own = peerchatWindow(true, () => Promise.reject(new DOMException('Not allowed to focus a window.', 'InvalidAccessError')));
    const { click } = worker([own]);
    await expect(click().done).resolves.toBe(own);
  });
});
