/**
 * The JavaScript a tab downloads from opening the app until its user has joined and opened a
 * conversation, gzipped (-9) as README.md's "What a tab downloads" reports it: it may not regrow
 * unnoticed. Service-worker fetches (its script, workbox, the precache it fills in the
 * background) run off the page and are left out; every script the page itself loads counts,
 * lazily loaded chunks included.
 */
import { gzipSync } from 'node:zlib';
import type { BrowserContext, Response } from '@playwright/test';
import { expect, expectPeers, test } from './fixtures.ts';
import { join, startChat } from './user.ts';

/**
 * Today's start-up JS (102,260 bytes by Node's zlib on 2026-12-07: the app's chunk alone, since
 * the service worker registers without workbox-window and the forms few sessions open are lazy
 * chunks) and a little room. Issue 16's bar is 80 KB, which the app does not meet (README.md says
 * what is left): raise this only with a reason in the commit, lower it as the app shrinks.
 */
const STARTUP_JS_LIMIT_BYTES = 102_500;

test('a tab that joins and opens a chat downloads at most the start-up JS budget, gzipped', async ({ tabs }) => {
  const scripts: Response[] = [];
  const watch = async (context: BrowserContext) => {
    context.on('response', (response) => {
      const request = response.request();
      if (request.serviceWorker() === null && request.resourceType() === 'script') scripts.push(response);
    });
  };
  const bob = await tabs.open();
  const alice = await tabs.open('', watch);
  await expectPeers(alice.page, 1);
  await join(bob.page, 'bob');
  await join(alice.page, 'alice');
  await startChat(alice.page, 'bob');

  const sizes = await Promise.all(
    scripts.map(async (r) => ({ url: new URL(r.url()).pathname, gzip: gzipSync(await r.body(), { level: 9 }).length })),
  );
  const total = sizes.reduce((sum, s) => sum + s.gzip, 0);
  console.log(`start-up JS: ${sizes.map((s) => `${s.url} ${s.gzip} B`).join(', ')}; ${total} B gzip in all`);
  expect(sizes.length, 'the page loaded its scripts').toBeGreaterThan(0);
  expect(total, `start-up JS, gzip -9 bytes (${sizes.map((s) => s.url).join(', ')})`).toBeLessThanOrEqual(STARTUP_JS_LIMIT_BYTES);
});
