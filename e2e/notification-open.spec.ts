/**
 * A notification clicked while its own tab is not there to show it: with no Peerchat window the
 * service worker opens the app at an address whose fragment names the identity and the
 * conversation (web/public/notification-click.js, hintFragment; its unit test checks that
 * address); a window on the join screen is handed that fragment instead. A test cannot make the
 * real click that lets a worker open a window, so the page is opened at that address, as the
 * worker would, in the browser where the identity is saved and no tab holds it.
 */
import AxeBuilder from '@axe-core/playwright';
import type { BrowserContext, Page } from '@playwright/test';
import { expect, test, type Tab } from './fixtures.ts';
import { acceptRequest, aliceAndBob, join, message, requests, send } from './user.ts';

/** The address the worker opens for a click on `identity`'s notification about `conversation`. */
function hintUrl(tab: Tab, identity: string, conversation?: string): string {
  const fields = new URLSearchParams({ as: identity, ...(conversation ? { open: conversation } : {}) });
  return `${new URL(tab.page.url()).origin}/#${fields}`;
}

/**
 * Runs `load`, which loads a page into `page`, and resolves once that page has followed any hint
 * in its address: it reads it with a chunk of its own (open-hint.ts), imported once its session
 * started, so importing that module again settles after the page's own import ran, and a frame
 * later the screen shows what it did.
 */
async function hintFollowed(page: Page, load: () => Promise<unknown>): Promise<void> {
  const chunk = page.waitForResponse((r) => /\/open-hint-[^/]*\.js$/.test(r.url()));
  await load();
  const src = (await chunk).url();
  await page.evaluate(async (src) => {
    await import(src);
    await new Promise(requestAnimationFrame);
  }, src);
}

/** A new window of `context` at `url`, its uncaught errors kept in `errors`, once it followed the hint. */
async function openWindow(context: BrowserContext, url: string, errors: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(String(err)));
  await hintFollowed(page, () => page.goto(url));
  await expect(page.getByRole('textbox', { name: 'Username' })).toBeVisible();
  return page;
}

const continueAs = (page: Page, name: string) => page.getByRole('button', { name: new RegExp(`^Continue as ${name}($| \\(|,)`) });
const openFragment = (page: Page) => page.evaluate(() => location.hash);

test('a notification clicked with no window open: continuing as its identity opens its conversation, once; a foreign or broken hint opens nothing', async ({ tabs }) => {
  const { alice, bob } = await aliceAndBob(tabs);
  await send(alice.page, 'hello bob');
  await acceptRequest(bob.page, 'alice');
  // Bob's window closes: nothing of Peerchat is open in his browser, his identity is free.
  await bob.page.close();
  const errors: string[] = [];

  // The join screen says what the click was for and focuses bob's "Continue as" (it does not
  // sign in by itself: a URL never picks who a tab is).
  const page = await openWindow(bob.context, hintUrl(alice, bob.nodeId, 'alice'), errors);
  await expect(continueAs(page, 'bob')).toBeFocused();
  await expect(page.getByText('Continue as bob to open the notification you clicked.')).toBeVisible();
  // The note and the focus pass axe as the rest of the join screen does (e2e/a11y.spec.ts).
  const { violations } = await new AxeBuilder({ page }).analyze();
  expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id)).toEqual([]);
  await continueAs(page, 'bob').click();
  await expect(page.getByRole('heading', { name: 'alice', exact: true })).toBeVisible();
  await expect(message(page, 'hello bob')).toBeVisible();
  await expect(page.getByRole('textbox', { name: 'Message' })).toBeVisible();
  // Used up: the address lost its fragment, and a reload opens no conversation.
  await expect.poll(() => openFragment(page)).toBe('');
  await page.reload();
  await expect(page.getByRole('textbox', { name: 'Find user' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Find a user to start chatting' })).toBeVisible();
  await page.close();

  // Another browser's identity (alice's, saved only in hers): nothing offered, and once bob
  // continues, nothing opens; the hint is used up all the same.
  const foreign = await openWindow(bob.context, hintUrl(alice, alice.nodeId, 'alice'), errors);
  await expect(foreign.getByRole('textbox', { name: 'Username' })).toBeFocused();
  await expect(foreign.getByText('to open the notification you clicked')).toBeHidden();
  await continueAs(foreign, 'bob').click();
  await expect(foreign.getByRole('textbox', { name: 'Find user' })).toBeVisible();
  await expect.poll(() => openFragment(foreign)).toBe('');
  await expect(foreign.getByRole('textbox', { name: 'Message' })).toBeHidden();
  await foreign.close();

  // Bob's id with a conversation that is no name: no hint at all, left in the address as it is.
  const broken = await openWindow(bob.context, `${hintUrl(alice, bob.nodeId)}&open=${encodeURIComponent('<b>alice')}`, errors);
  await expect(broken.getByRole('textbox', { name: 'Username' })).toBeFocused();
  await expect(broken.getByText('to open the notification you clicked')).toBeHidden();
  await hintFollowed(broken, () => continueAs(broken, 'bob').click());
  await expect(broken.getByRole('textbox', { name: 'Find user' })).toBeVisible();
  await expect(broken.getByRole('textbox', { name: 'Message' })).toBeHidden();
  expect(await openFragment(broken)).toContain('open=');
  expect(errors, 'uncaught errors in bob’s new windows').toEqual([]);
});

/**
 * `page`'s user looks at `elsewhere`, another window of the same browser: `page`'s focus
 * emulation is off (CDP), as in e2e/attention.spec.ts, so `elsewhere` in front takes its focus.
 */
async function looksAt(page: Page, elsewhere: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Emulation.setFocusEmulationEnabled', { enabled: false });
  await elsewhere.bringToFront();
  await expect.poll(() => page.evaluate(() => document.hasFocus())).toBe(false);
}

/** Bob turns notifications on (the setting is his browser's, for all its tabs). */
async function notificationsOn(bob: Tab): Promise<void> {
  await bob.context.grantPermissions(['notifications']);
  await bob.page.evaluate(() => navigator.serviceWorker.ready);
  await bob.page.getByRole('button', { name: 'Turn on notifications' }).click();
  await expect(bob.page.getByRole('button', { name: 'Turn off notifications' })).toBeVisible();
}

/**
 * A new window of `tab`'s browser at the app, its uncaught errors counted as the tab's. Its
 * address has a query of its own (which the app ignores): which window the worker focused is
 * told by address.
 */
async function anotherWindow(tab: Tab, name: string): Promise<Page> {
  const page = await tab.context.newPage();
  page.on('pageerror', (err) => tab.errors.push(String(err)));
  await page.goto(`${new URL(tab.page.url()).origin}/?${name}`);
  await expect(page.getByRole('textbox', { name: 'Username' })).toBeVisible();
  return page;
}

/** What makes a page busy for 2.5 s (`busyOnBlock`): past the second the worker waits for answers. */
const BLOCK = 'peerchat-test:block';

/**
 * The page blocks for 2.5 s on BLOCK from the worker, which clickNotification sends it right
 * before the click: the question queues behind it and is read late, as a frozen tab reads it as
 * it thaws. (CDP's Page.setWebLifecycleState froze no visible headless page: it answered at once.)
 */
const busyOnBlock = (page: Page) =>
  page.evaluate((block) => {
    navigator.serviceWorker.addEventListener('message', (event) => {
      if (event.data?.type === block) for (const until = Date.now() + 2_500; Date.now() < until; );
    });
  }, BLOCK);

/**
 * The data of the notifications the worker shows, read in one of its browser's pages. One for a
 * message waits on the message's delivery, so the tests poll up to 60 s for it, as other specs
 * wait for a message (30 s ran out once in a CI run beside two 1,000-node simulations, alice's
 * first message still "Sent").
 */
const shown = (page: Page) => page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => n.data as unknown));

/**
 * Clicks the notification the worker shows, by script (a real click cannot be made here), and
 * resolves once the worker's handler settled: with the address of the window it focused (a
 * scripted click may not focus, so the handler settles on the window), or the address it opened
 * a window at (recorded: a scripted click may not open one either; the test opens it).
 */
async function clickNotification(context: BrowserContext, busy?: Page): Promise<{ focused: string | null; opened: string | null }> {
  const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker'));
  return worker.evaluate(async ([busy, block]) => {
    type Window = { url: string; postMessage(m: unknown): void };
    type Scope = { registration: ServiceWorkerRegistration; clients: { openWindow?: unknown; matchAll(o: object): Promise<Window[]> }; dispatchEvent(e: Event): boolean };
    const scope = self as unknown as Scope;
    // Messages from the worker to a window arrive in order: BLOCK first, the question after.
    for (const w of await scope.clients.matchAll({ type: 'window', includeUncontrolled: true })) if (w.url === busy) w.postMessage({ type: block });
    const NotificationEvent = (globalThis as unknown as { NotificationEvent: new (type: string, init: { notification: Notification }) => Event }).NotificationEvent;
    const [notification] = await scope.registration.getNotifications();
    let opened: string | null = null;
    scope.clients.openWindow = async (url: string) => ((opened = url), null);
    let done: Promise<unknown> = Promise.resolve(null);
    const event = new NotificationEvent('notificationclick', { notification: notification! });
    Object.defineProperty(event, 'waitUntil', { value: (p: Promise<unknown>) => void (done = p) });
    try {
      scope.dispatchEvent(event);
      const focused = (await done) as { url: string } | null;
      return { focused: focused?.url ?? null, opened };
    } finally {
      delete scope.clients.openWindow;
    }
  }, [busy?.url() ?? null, BLOCK] as const);
}

/** Whether a tab of the page's browser holds `nodeId`'s identity (web/storage/tab-identity.ts's lock). */
const held = (page: Page, nodeId: string) =>
  page.evaluate(async (nodeId) => ((await navigator.locks.query()).held ?? []).some((l) => l.name === `peerchat-identity-${nodeId}`), nodeId);

test('a notification whose tab was closed: a window on the join screen takes it; with every window signed in as another, a new window opens at it', async ({ tabs }) => {
  const { alice, bob } = await aliceAndBob(tabs);
  await send(alice.page, 'hello bob');
  await acceptRequest(bob.page, 'alice');
  await notificationsOn(bob);
  const joinScreen = await anotherWindow(bob, 'join-screen');
  await looksAt(bob.page, joinScreen);
  await send(alice.page, 'are you there?');
  await expect.poll(() => shown(joinScreen), { timeout: 60_000 }).toEqual([{ identity: bob.nodeId, conversation: 'alice' }]);

  // Bob closes his tab; the window he looked at, on the join screen, takes the click.
  await bob.page.close();
  await expect.poll(() => held(joinScreen, bob.nodeId)).toBe(false);
  const address = joinScreen.url();
  expect(await clickNotification(bob.context)).toEqual({ focused: address, opened: null });
  // It shows what a new window at the hint would: bob offered and focused, not signed in.
  await expect(continueAs(joinScreen, 'bob')).toBeFocused();
  await expect(joinScreen.getByText('Continue as bob to open the notification you clicked.')).toBeVisible();
  expect(await openFragment(joinScreen)).toBe(new URL(hintUrl(alice, bob.nodeId, 'alice')).hash);
  await continueAs(joinScreen, 'bob').click();
  await expect(joinScreen.getByRole('heading', { name: 'alice', exact: true })).toBeVisible();
  await expect(message(joinScreen, 'are you there?')).toBeVisible();
  await expect.poll(() => openFragment(joinScreen)).toBe('');

  // That window is bob's tab now. Carol signs in in another, which he looks at; his tab closes.
  const carol = await anotherWindow(bob, 'carol');
  await join(carol, 'carol');
  await looksAt(joinScreen, carol);
  await send(alice.page, 'still there?');
  await expect.poll(() => shown(carol), { timeout: 60_000 }).toEqual([{ identity: bob.nodeId, conversation: 'alice' }]);
  await joinScreen.close();
  await expect.poll(() => held(carol, bob.nodeId)).toBe(false);
  // Carol's window is hers for its life: a new window opens at the hint, and shows bob's chat.
  // Her window does not answer in time; bob's lock is free, so its silence means nothing.
  await busyOnBlock(carol);
  const { focused, opened } = await clickNotification(bob.context, carol);
  expect({ focused, hint: opened && new URL(opened).hash }).toEqual({ focused: null, hint: new URL(hintUrl(alice, bob.nodeId, 'alice')).hash });
  const errors: string[] = [];
  const page = await openWindow(bob.context, opened!, errors);
  await expect(continueAs(page, 'bob')).toBeFocused();
  await continueAs(page, 'bob').click();
  await expect(page.getByRole('heading', { name: 'alice', exact: true })).toBeVisible();
  await expect(message(page, 'still there?')).toBeVisible();
  await expect(carol.getByRole('textbox', { name: 'Find user' })).toBeVisible();
  expect(errors, 'uncaught errors in bob’s new window').toEqual([]);
});

test('a notification whose tab does not answer (frozen, or busy): the worker focuses that tab, not the join screen beside it, and it opens what was clicked once it reads the question', async ({ tabs }) => {
  const { alice, bob } = await aliceAndBob(tabs);
  await notificationsOn(bob);
  const joinScreen = await anotherWindow(bob, 'join-screen');
  await looksAt(bob.page, joinScreen);
  // A message request's notification: its click shows bob his message requests.
  await send(alice.page, 'hello bob');
  await expect.poll(() => shown(joinScreen), { timeout: 60_000 }).toEqual([{ identity: bob.nodeId, conversation: null }]);

  // Bob's tab cannot answer the worker in time, but holds bob's identity: the worker focuses it
  // rather than hand the join screen the hint, which it could not offer (bob is open in that tab).
  await busyOnBlock(bob.page);
  expect(bob.page.url()).not.toBe(joinScreen.url());
  expect(await clickNotification(bob.context, bob.page)).toEqual({ focused: bob.page.url(), opened: null });
  await bob.page.bringToFront();
  await expect(requests(bob.page)).toBeFocused();
  await expect(joinScreen.getByText('to open the notification you clicked')).toBeHidden();
  expect(await openFragment(joinScreen)).toBe('');
});
