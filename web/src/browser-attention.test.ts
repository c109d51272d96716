import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Notice } from './attention.ts';
import { BrowserAttention, CLICK_MESSAGE, HINT_MESSAGE, showNotice, type WorkerRegistration } from './browser-attention.ts';

const notice: Notice = {
  title: 'alice',
  body: 'are you there?',
  tag: 'peerchat:b0b:alice',
  renotify: false,
  data: { identity: 'b0b', conversation: 'alice' },
};

function registration(active: boolean) {
  const shown: { title: string; options: object }[] = [];
  const reg: WorkerRegistration = {
    active: active ? {} : null,
    showNotification: async (title, options) => void shown.push({ title, options }),
  };
  return { reg, shown };
}

const refusing = () => {
  throw new TypeError('Illegal constructor. Use ServiceWorkerRegistration.showNotification() instead.');
};

describe('showing a notification', () => {
  it('goes through the active service worker’s registration, with its tag and data, never the page’s', async () => {
    const { reg, shown } = registration(true);
    const construct = vi.fn();
    expect(await showNotice(notice, reg, construct)).toBe('worker');
    expect(shown).toEqual([
      { title: 'alice', options: { body: 'are you there?', tag: 'peerchat:b0b:alice', renotify: false, data: { identity: 'b0b', conversation: 'alice' }, icon: '/icon.svg' } },
    ]);
    expect(construct).not.toHaveBeenCalled();
  });

  it('is the page’s own where no service worker is registered (the dev server) or none is active yet', async () => {
    for (const reg of [undefined, registration(false).reg]) {
      const construct = vi.fn();
      expect(await showNotice(notice, reg, construct)).toBe('page');
      expect(construct).toHaveBeenCalledWith('alice', expect.objectContaining({ tag: 'peerchat:b0b:alice', data: notice.data }));
    }
  });

  it('is refused where the page may not make one and no worker can (Chrome on Android without one)', async () => {
    expect(await showNotice(notice, undefined, refusing)).toBe('refused');
  });

  it('is only dropped while a worker installs: it shows the next, so the button stays', async () => {
    expect(await showNotice(notice, registration(false).reg, refusing)).toBe('dropped');
  });
});

describe('the service worker’s messages on a notification’s click (web/public/notification-click.js)', () => {
  afterEach(() => void vi.unstubAllGlobals());

  /** A tab whose worker messages arrive on `worker`; `answer` asks it the worker's question. */
  function tab() {
    const worker = new EventTarget();
    vi.stubGlobal('navigator', { serviceWorker: worker });
    const attention = new BrowserAttention(() => true, () => undefined);
    const answer = (data: unknown) =>
      new Promise<unknown>((resolve) => {
        const channel = new MessageChannel();
        channel.port1.onmessage = (e) => (resolve(e.data), channel.port1.close());
        worker.dispatchEvent(new MessageEvent('message', { data: { type: CLICK_MESSAGE, data }, ports: [channel.port2] }));
      });
    const hand = (message: unknown) => worker.dispatchEvent(new MessageEvent('message', { data: message }));
    return { attention, answer, hand };
  }

  it('answers true when the notification is its identity’s, “free” on the join screen, false otherwise', async () => {
    const { attention, answer } = tab();
    let screen = 'signed-in';
    attention.clicked = (data) => (data as { identity?: string }).identity === 'b0b';
    attention.free = () => screen === 'signed-out';
    expect(await answer({ identity: 'b0b' })).toBe(true);
    expect(await answer({ identity: 'a11ce' })).toBe(false);
    screen = 'signed-out';
    expect(await answer({ identity: 'a11ce' })).toBe('free');
  });

  it('answers false before the session started, and hands on a hint as it came, for open-hint.ts to judge', async () => {
    const { attention, answer, hand } = tab();
    expect(await answer({ identity: 'b0b' })).toBe(false);
    const hinted: unknown[] = [];
    attention.hinted = (hash) => hinted.push(hash);
    hand({ type: HINT_MESSAGE, hint: '#as=b0b' });
    hand({ type: HINT_MESSAGE, hint: { evil: true } });
    hand({ type: 'something else', hint: '#as=b0b' });
    hand(null);
    expect(hinted).toEqual(['#as=b0b', { evil: true }]);
  });
});
