/**
 * What a user does in the app, by role and accessible name only (ARCHITECTURE.md, "Accessible
 * names the UI keeps stable"): shared by the browser test suites.
 */
import { expect, type BrowserContext, type Page } from '@playwright/test';
import { expectPeers, type Tab } from './fixtures.ts';

export async function join(page: Page, name: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Username' }).fill(name);
  await page.getByRole('button', { name: 'Join' }).click();
  await expect(page.getByRole('textbox', { name: 'Find user' })).toBeVisible();
}

export async function startChat(page: Page, name: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Find user' }).fill(name);
  await page.getByRole('button', { name: 'Start chat' }).click();
  await expect(page.getByRole('textbox', { name: 'Message' })).toBeVisible();
}

/** The conversation button of a group: its name first (ARCHITECTURE.md, accessible names). */
export function groupButton(page: Page, name: string) {
  return page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: new RegExp(`^${name}($|,)`) });
}

export async function openConversation(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: new RegExp(`^${name}($| \\(|,)`) }).click();
  await expect(page.getByRole('textbox', { name: 'Message' })).toBeVisible();
}

/** The sidebar's message requests: messages from senders this user never looked up or accepted. */
export function requests(page: Page) {
  return page.getByRole('region', { name: /^Message requests/ });
}

/** The request from `name` (the name it claims), once it is there. */
export function request(page: Page, name: string) {
  return requests(page).getByRole('listitem').filter({ has: page.getByText(name, { exact: true }) });
}

/**
 * The recipient accepts the message request from `name` (whose first messages arrive there, not
 * in the conversations, until it does); the conversation opens.
 */
export async function acceptRequest(page: Page, name: string, timeout = 60_000): Promise<void> {
  await expect(request(page, name)).toBeVisible({ timeout });
  await request(page, name).getByRole('button', { name: 'Accept' }).click();
  await expect(page.getByRole('heading', { name, exact: true })).toBeVisible();
  await expect(page.getByRole('textbox', { name: 'Message' })).toBeVisible();
}

export async function send(page: Page, text: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Message' }).fill(text);
  await page.getByRole('textbox', { name: 'Message' }).press('Enter');
  await expect(message(page, text)).toBeVisible();
}

export function log(page: Page) {
  return page.getByRole('log', { name: 'Messages' });
}

export function message(page: Page, text: string) {
  return log(page).getByRole('listitem').filter({ hasText: text });
}

export async function expectStatus(page: Page, text: string, status: string, timeout = 60_000): Promise<void> {
  await expect(message(page, text)).toHaveAttribute('data-status', status, { timeout });
}

/** The texts of the open conversation, in the order shown. */
export async function shownTexts(page: Page, texts: string[]): Promise<void> {
  for (const t of texts) await expect(message(page, t)).toHaveCount(1);
  const all = await log(page).getByRole('listitem').allTextContents();
  const order = texts.map((t) => all.findIndex((line) => line.includes(t)));
  expect(order).toEqual([...order].sort((a, b) => a - b));
}

/** A new tab in an existing context (its IndexedDB), signed in as `name` through its button. */
export async function comeBack(context: BrowserContext, url: string, name: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  await page.getByRole('button', { name: new RegExp(`^Continue as ${name}($| \\(|,)`) }).click();
  await expect(page.getByRole('textbox', { name: 'Find user' })).toBeVisible();
  return page;
}

/** Two tabs that join as alice and bob; alice's has the chat with bob open. */
export async function aliceAndBob(tabs: { open(): Promise<Tab> }): Promise<{ alice: Tab; bob: Tab }> {
  const alice = await tabs.open();
  const bob = await tabs.open();
  await expectPeers(alice.page, 1);
  await join(alice.page, 'alice');
  await join(bob.page, 'bob');
  await startChat(alice.page, 'bob');
  return { alice, bob };
}

/**
 * Presses the Network panel's "Look up a random ID" until a lookup took a hop (one whose key
 * lies nearer this tab than any of its peers is answered here, and has no path to list), and
 * returns the listed hops.
 */
export async function lookUpWithHops(page: Page) {
  const network = page.getByRole('region', { name: 'Network' });
  const hops = network.getByRole('list', { name: 'Lookup path' });
  const button = network.getByRole('button', { name: 'Look up a random ID' });
  await expect
    .poll(async () => {
      if (await hops.isVisible()) return true;
      if (await button.isEnabled()) await button.click();
      return false;
    }, { message: 'a lookup that took a hop', intervals: [500] })
    .toBe(true);
  return hops.getByRole('listitem');
}

/** Relays: plain nodes that hold mail for others, each with its first peers. */
export async function relays(tabs: { open(): Promise<Tab> }, n: number): Promise<Tab[]> {
  const out: Tab[] = [];
  for (let i = 0; i < n; i++) out.push(await tabs.open());
  for (const t of out) await expectPeers(t.page, Math.min(3, n - 1));
  return out;
}

