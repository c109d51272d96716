/**
 * A notification clicked while no Peerchat window is open: the service worker opens the app at
 * an address whose fragment names the identity and the conversation (web/public/
 * notification-click.js, hintUrl; its unit test checks that address). A test cannot make the
 * real click that lets a worker open a window, so the page is opened at that address, as the
 * worker would, in the browser where the identity is saved and no tab holds it.
 */
import AxeBuilder from '@axe-core/playwright';
import type { BrowserContext, Page } from '@playwright/test';
import { expect, test, type Tab } from './fixtures.ts';
import { acceptRequest, aliceAndBob, message, send } from './user.ts';

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
