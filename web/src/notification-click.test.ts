/**
 * web/public/notification-click.js, the service worker's click handler, run against a fake
 * worker scope: which window it asks, which it focuses, when it opens one and at what address.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { NotificationData } from './attention.ts';
import { CLICK_MESSAGE } from './browser-attention.ts';
import { readHint } from './open-hint.ts';

const SOURCE = readFileSync(new URL('../public/notification-click.js', import.meta.url), 'utf8');
const SCOPE = 'https://peerchat.example/';
const BOB = 'b0b'.padEnd(40, '0');
const DATA: NotificationData = { identity: BOB, conversation: 'alice' };

/** A Peerchat window that answers the worker's question with `answer` (undefined: a frozen tab, never). */
function peerchatWindow(answer: boolean | undefined, focus: () => Promise<unknown> = async () => undefined) {
  const w = {
    asked: [] as unknown[],
    focus: vi.fn(async () => (await focus(), w)),
    postMessage(message: unknown, [port]: MessagePort[]) {
      w.asked.push(message);
      if (answer !== undefined) port!.postMessage(answer);
      port!.close();
    },
  };
  return w;
}

/** Loads the handler into a fake worker scope with these windows; returns a click on a notification. */
function worker(windows: ReturnType<typeof peerchatWindow>[]) {
  let handler: ((event: unknown) => void) | undefined;
  const openWindow = vi.fn(async (_url: string) => null);
  const scope = {
    registration: { scope: SCOPE },
    clients: { matchAll: async (o: unknown) => (expect(o).toEqual({ type: 'window', includeUncontrolled: true }), windows), openWindow },
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

afterEach(() => void vi.useRealTimers());

describe('a click on a notification, in the service worker', () => {
  it('closes it, asks every window, and focuses the one whose identity it is', async () => {
    const other = peerchatWindow(false);
    const own = peerchatWindow(true);
    const { click, openWindow } = worker([other, own]);
    const { notification, done } = click();
    await done;
    expect(notification.close).toHaveBeenCalled();
    for (const w of [other, own]) expect(w.asked).toEqual([{ type: CLICK_MESSAGE, data: DATA }]);
    expect(own.focus).toHaveBeenCalled();
    expect(other.focus).not.toHaveBeenCalled();
    expect(openWindow).not.toHaveBeenCalled();
  });

  it('focuses a Peerchat window when none is the notification’s own (its tab was closed)', async () => {
    const first = peerchatWindow(false);
    const { click } = worker([first, peerchatWindow(false)]);
    await click().done;
    expect(first.focus).toHaveBeenCalled();
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

  it('opens the bare scope for data that names nothing', async () => {
    const { click, openWindow } = worker([]);
    for (const data of [null, {}, 'alice', { identity: 7, conversation: ['x'] }]) await click(data).done;
    expect(openWindow.mock.calls).toEqual([[SCOPE], [SCOPE], [SCOPE], [SCOPE]]);
  });

  it('waits at most a second for a frozen tab', async () => {
    vi.useFakeTimers();
    const frozen = peerchatWindow(undefined);
    const { click } = worker([frozen, peerchatWindow(false)]);
    const { done } = click();
    await vi.advanceTimersByTimeAsync(1_000);
    await done;
    expect(frozen.focus).toHaveBeenCalled();
  });

  it('settles when the browser does not let it focus: the page opened the conversation already', async () => {
    const own = peerchatWindow(true, () => Promise.reject(new DOMException('Not allowed to focus a window.', 'InvalidAccessError')));
    const { click } = worker([own]);
    await expect(click().done).resolves.toBe(own);
  });
});
