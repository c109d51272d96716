import { describe, expect, it, vi } from 'vitest';
import type { Notice } from './attention.ts';
import { showNotice, type WorkerRegistration } from './browser-attention.ts';

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
