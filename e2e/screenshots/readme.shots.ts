/**
 * The README's screenshots (`npm run screenshots`): two users join, find each other and chat;
 * a third writes to one of them first; the three talk in a group. Each picture is written next
 * to this file.
 */
import { fileURLToPath } from 'node:url';
import type { Page } from '@playwright/test';
import { expect, test } from '../fixtures.ts';
import { acceptRequest, aliceAndBob, expectStatus, groupButton, join, message, request, send, startChat } from '../user.ts';

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
  await alice.page.setViewportSize({ width: 1100, height: 700 });

  // The three in a group: alice made it, so her member list has the admin's controls; carol
  // never looked alice up, so hers is an invitation, and alice's name is the group's word.
  await bob.page.emulateMedia({ colorScheme: 'light' });
  await alice.page.getByRole('button', { name: 'New group' }).click();
  await alice.page.getByRole('textbox', { name: 'Group name' }).fill('Climbing club');
  await alice.page.getByRole('textbox', { name: 'Members' }).fill('bob, carol');
  await alice.page.getByRole('button', { name: 'Create group' }).click();
  await expect(alice.page.getByRole('heading', { name: 'Climbing club', exact: true })).toBeVisible();
  await groupButton(newcomer.page, 'Climbing club').click({ timeout: 60_000 });
  await newcomer.page.getByRole('button', { name: 'Join group' }).click();
  await send(alice.page, 'Saturday at the crag, 9:00?');
  await groupButton(bob.page, 'Climbing club').click({ timeout: 60_000 });
  await expect(message(bob.page, 'Saturday at the crag, 9:00?')).toBeVisible();
  await send(bob.page, 'I am in. I will bring the rope.');
  await expect(message(newcomer.page, 'I am in. I will bring the rope.')).toBeVisible();
  await send(newcomer.page, 'Count me in too!');
  await expect(message(alice.page, 'Count me in too!')).toBeVisible();
  await expect(message(alice.page, 'Saturday at the crag, 9:00?')).toContainText('Delivered to all 2', { timeout: 60_000 });
  await alice.page.getByRole('button', { name: 'Member list' }).click();
  await expect(alice.page.getByRole('button', { name: 'Remove carol' })).toBeVisible();
  // The sidebar as it opens, not scrolled to the group's button.
  await alice.page.locator('aside.side').evaluate((side) => side.scrollTo(0, 0));
  await shot(alice.page, 'group');
});
