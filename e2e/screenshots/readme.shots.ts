/**
 * The README's screenshots (`npm run screenshots`): two users join, find each other and chat;
 * a third writes to one of them first. Each picture is written next to this file.
 */
import { fileURLToPath } from 'node:url';
import type { Page } from '@playwright/test';
import { expect, test } from '../fixtures.ts';
import { acceptRequest, aliceAndBob, expectStatus, join, request, send, startChat } from '../user.ts';

const shot = (page: Page, name: string) => page.screenshot({ path: fileURLToPath(new URL(`./${name}.png`, import.meta.url)) });

test('the main screens', async ({ tabs }) => {
  const { alice, bob } = await aliceAndBob(tabs);
  const newcomer = await tabs.open();
  await newcomer.page.setViewportSize({ width: 900, height: 900 });
  await expect(newcomer.page.getByRole('textbox', { name: 'Username' })).toBeVisible();
  await shot(newcomer.page, 'join');

  for (const page of [alice.page, bob.page]) await page.setViewportSize({ width: 1100, height: 700 });
  await send(alice.page, 'Hi Bob! Did the nodes near you keep my last message?');
  await acceptRequest(bob.page, 'alice');
  await bob.page.getByRole('button', { name: 'Look up alice' }).click();
  await send(bob.page, 'They did: it arrived as soon as my tab came back.');
  await send(alice.page, 'No server read a word of it, either.');
  await expectStatus(alice.page, 'No server read a word of it, either.', 'delivered');
  await shot(alice.page, 'chat');

  // A stranger's first message waits under "Message requests", its name not yet verified.
  await join(newcomer.page, 'carol');
  await startChat(newcomer.page, 'bob');
  await send(newcomer.page, 'Hello Bob, it is Carol from the climbing club.');
  await expect(request(bob.page, 'carol')).toBeVisible();
  await bob.page.getByRole('button', { name: 'Safety number' }).click();
  await bob.page.emulateMedia({ colorScheme: 'dark' });
  await shot(bob.page, 'requests-dark');

  await alice.page.setViewportSize({ width: 390, height: 780 });
  await shot(alice.page, 'phone');
});
