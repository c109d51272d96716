/**
 * Attention (issue 16): the unread count in the tab's title, and a system notification for a
 * message that arrives while the user looks at another tab, once they turned notifications on.
 *
 * Headless Chromium reports every page as visible and, with Playwright's focus emulation, as
 * focused. Bob's page turns the emulation off (CDP), so `document.hasFocus()` is the window's
 * real focus, and another tab of his window in front takes it: the user looking elsewhere.
 */
import type { Page } from '@playwright/test';
import { expect, test } from './fixtures.ts';
import { acceptRequest, aliceAndBob, message, send } from './user.ts';

const notifications = (page: Page) => page.evaluate(() => window.peerchat!.notifications());

test('a message that arrives while the user looks at another tab counts in the title and shows as a notification', async ({ tabs }) => {
  const { alice, bob } = await aliceAndBob(tabs);
  await bob.context.grantPermissions(['notifications']);
  const cdp = await bob.context.newCDPSession(bob.page);
  await cdp.send('Emulation.setFocusEmulationEnabled', { enabled: false });
  const elsewhere = await bob.context.newPage();
  const lookAway = async () => {
    await elsewhere.bringToFront();
    await expect.poll(() => bob.page.evaluate(() => document.hasFocus())).toBe(false);
  };

  // Off until the user turns them on: nothing was asked at load, and nothing shows.
  await expect(bob.page.getByRole('button', { name: 'Turn on notifications' })).toBeVisible();
  await lookAway();
  await send(alice.page, 'hello bob');
  await expect(bob.page).toHaveTitle('(1) Peerchat');
  expect(await notifications(bob.page)).toEqual([]);

  await bob.page.bringToFront();
  await bob.page.getByRole('button', { name: 'Turn on notifications' }).click();
  await expect(bob.page.getByRole('button', { name: 'Turn off notifications' })).toBeVisible();
  // Reading clears the count: the request, accepted, opens as the conversation.
  await acceptRequest(bob.page, 'alice');
  await expect(bob.page).toHaveTitle('Peerchat');

  await lookAway();
  await send(alice.page, 'are you there?');
  await expect(bob.page).toHaveTitle('(1) Peerchat');
  await expect.poll(() => notifications(bob.page)).toEqual([{ title: 'alice', body: 'are you there?' }]);
  // The conversation was open, but nobody looked: it is read once bob comes back.
  await bob.page.bringToFront();
  await expect(bob.page).toHaveTitle('Peerchat');
  await expect(message(bob.page, 'are you there?')).toBeVisible();

  // Turned off: the count still shows, no notification does.
  await bob.page.getByRole('button', { name: 'Turn off notifications' }).click();
  await expect(bob.page.getByRole('button', { name: 'Turn on notifications' })).toBeVisible();
  await lookAway();
  await send(alice.page, 'bye');
  await expect(bob.page).toHaveTitle('(1) Peerchat');
  expect(await notifications(bob.page)).toHaveLength(1);
});
