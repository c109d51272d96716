/**
 * Attention (issue 16): the unread count in the tab's title and the installed app's badge, and a
 * system notification for a message that arrives while the user looks at another tab, once they
 * turned notifications on: shown by the service worker (the app is built, so one is active), one
 * per conversation, and a click opens its conversation.
 *
 * Headless Chromium reports every page as visible and, with Playwright's focus emulation, as
 * focused. Bob's page turns the emulation off (CDP), so `document.hasFocus()` is the window's
 * real focus, and another tab of his window in front takes it: the user looking elsewhere.
 */
import type { Page } from '@playwright/test';
import { expect, expectPeers, test, type Tab } from './fixtures.ts';
import { acceptRequest, aliceAndBob, join, message, requests, send, startChat } from './user.ts';

const notifications = (page: Page) => page.evaluate(() => window.peerchat!.notifications());

/** The notifications the service worker's registration shows for the page's origin. */
const workerNotifications = (page: Page) =>
  page.evaluate(async () =>
    (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data as unknown })),
  );

/**
 * Clicks the first notification the worker shows, as the user would: a real click cannot be made
 * here, so the worker gets the event it would, made by script (whose waitUntil throws, and whose
 * focus() is refused), and its handler asks the pages.
 */
async function clickNotification(tab: Tab): Promise<void> {
  const worker = tab.context.serviceWorkers()[0] ?? (await tab.context.waitForEvent('serviceworker'));
  await worker.evaluate(async () => {
    const scope = self as unknown as { registration: ServiceWorkerRegistration; dispatchEvent(e: Event): boolean };
    const NotificationEvent = (globalThis as unknown as { NotificationEvent: new (type: string, init: { notification: Notification }) => Event }).NotificationEvent;
    const [notification] = await scope.registration.getNotifications();
    scope.dispatchEvent(new NotificationEvent('notificationclick', { notification: notification! }));
  });
}

/** Turns off the tab's focus emulation; returns what makes its user look at another tab. */
async function awayFrom(tab: Tab): Promise<() => Promise<void>> {
  const cdp = await tab.context.newCDPSession(tab.page);
  await cdp.send('Emulation.setFocusEmulationEnabled', { enabled: false });
  const elsewhere = await tab.context.newPage();
  await tab.page.bringToFront();
  return async () => {
    await elsewhere.bringToFront();
    await expect.poll(() => tab.page.evaluate(() => document.hasFocus())).toBe(false);
  };
}

test('a message that arrives while the user looks at another tab counts in the title and shows as a notification', async ({ tabs }) => {
  const { alice, bob } = await aliceAndBob(tabs);
  await bob.context.grantPermissions(['notifications']);
  const lookAway = await awayFrom(bob);

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

test('the service worker shows one notification per conversation, a click on it opens that conversation (a request’s: the requests), and reading closes it', async ({ tabs }) => {
  const { alice, bob } = await aliceAndBob(tabs);
  const carol = await tabs.open();
  await join(carol.page, 'carol');
  await bob.context.grantPermissions(['notifications']);
  const lookAway = await awayFrom(bob);
  await bob.page.evaluate(() => navigator.serviceWorker.ready);
  await bob.page.getByRole('button', { name: 'Turn on notifications' }).click();
  // A message request's notification: its click brings bob to the message requests.
  await lookAway();
  await send(alice.page, 'hello bob');
  await expect.poll(async () => (await workerNotifications(bob.page)).map((n) => [n.title, n.data])).toEqual([
    ['Message request: alice (not verified)', { identity: bob.nodeId, conversation: null }],
  ]);
  await clickNotification(bob);
  await expect.poll(() => workerNotifications(bob.page)).toEqual([]);
  await bob.page.bringToFront();
  await expect(requests(bob.page)).toBeFocused();
  await acceptRequest(bob.page, 'alice');
  // Bob reads carol's conversation when alice writes again.
  await startChat(bob.page, 'carol');

  await lookAway();
  await send(alice.page, 'one');
  const fromAlice = (body: string) => ({ title: 'alice', body, tag: `peerchat:${bob.nodeId}:alice`, data: { identity: bob.nodeId, conversation: 'alice' } });
  await expect.poll(() => workerNotifications(bob.page)).toEqual([fromAlice('one')]);
  await send(alice.page, 'two');
  // The newest replaced it: two shown, one left.
  await expect.poll(() => workerNotifications(bob.page)).toEqual([fromAlice('two')]);
  expect(await notifications(bob.page)).toEqual([
    { title: 'Message request: alice (not verified)', body: 'hello bob' },
    { title: 'alice', body: 'one' },
    { title: 'alice', body: 'two' },
  ]);

  await clickNotification(bob);
  await expect(bob.page.getByRole('heading', { name: 'alice', exact: true })).toBeVisible();
  await expect(message(bob.page, 'two')).toBeVisible();
  await expect.poll(() => workerNotifications(bob.page)).toEqual([]);

  // Read in the tab, with no click: its notification is closed too.
  await lookAway();
  await send(alice.page, 'three');
  await expect.poll(() => workerNotifications(bob.page)).toEqual([fromAlice('three')]);
  await bob.page.bringToFront();
  await expect(bob.page).toHaveTitle('Peerchat');
  await expect.poll(() => workerNotifications(bob.page)).toEqual([]);
});

test('the installed app’s badge counts unread messages and requests as they arrive and are read', async ({ tabs }) => {
  const alice = await tabs.open();
  // Every call the app makes, recorded once the browser's own call has resolved.
  const bob = await tabs.open('', async (context) => {
    await context.addInitScript(() => {
      const calls: number[] = [];
      (window as unknown as { badgeCalls: number[] }).badgeCalls = calls;
      const nav = Navigator.prototype as Navigator & { setAppBadge(n?: number): Promise<void>; clearAppBadge(): Promise<void> };
      const { setAppBadge, clearAppBadge } = nav;
      nav.setAppBadge = function (n) {
        return setAppBadge.call(this, n).then(() => void calls.push(n ?? -1));
      };
      nav.clearAppBadge = function () {
        return clearAppBadge.call(this).then(() => void calls.push(0));
      };
    });
  });
  const badge = () => bob.page.evaluate(() => (window as unknown as { badgeCalls: number[] }).badgeCalls);
  await expectPeers(alice.page, 1);
  await join(alice.page, 'alice');
  await join(bob.page, 'bob');
  await startChat(alice.page, 'bob');
  const lookAway = await awayFrom(bob);

  await expect.poll(badge).toEqual([0]);
  await send(alice.page, 'hello bob');
  await expect.poll(badge).toEqual([0, 1]);
  await acceptRequest(bob.page, 'alice');
  await expect.poll(badge).toEqual([0, 1, 0]);

  await lookAway();
  await send(alice.page, 'one');
  await expect(bob.page).toHaveTitle('(1) Peerchat');
  await send(alice.page, 'two');
  await expect(bob.page).toHaveTitle('(2) Peerchat');
  await expect.poll(badge).toEqual([0, 1, 0, 1, 2]);
  await bob.page.bringToFront();
  await expect(bob.page).toHaveTitle('Peerchat');
  await expect.poll(badge).toEqual([0, 1, 0, 1, 2, 0]);
});
