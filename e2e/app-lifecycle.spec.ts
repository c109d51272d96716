/**
 * The installable app (issue 16): the browser's install offer as a button, a new deployment
 * that waits for "Update now", and the shell that opens offline.
 */
import { chromium, type Page } from '@playwright/test';
import { appendFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSignalServer } from '../signal-server/server.ts';
import { CHROMIUM_ARGS, chromiumExecutable } from './chromium.ts';
import { expect, nodeIdOf, test } from './fixtures.ts';

const DIST = fileURLToPath(new URL('../dist', import.meta.url));

/** Waits until a service worker controls the page, reloading once if the first load was before it. */
async function controlled(page: Page): Promise<void> {
  await page.evaluate(() => navigator.serviceWorker.ready);
  if (!(await page.evaluate(() => navigator.serviceWorker.controller !== null))) await page.reload();
  await expect.poll(() => page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
}

test('the browser’s install offer is the header’s “Install Peerchat”, which opens its dialog', async ({ server }) => {
  // Incognito contexts (Playwright's usual ones) are never offered installation: a profile is.
  const profile = mkdtempSync(join(tmpdir(), 'peerchat-install-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: chromiumExecutable(), args: CHROMIUM_ARGS, headless: true });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(server.url);
    const install = page.getByRole('button', { name: 'Install Peerchat' });
    await expect(install).toBeVisible();
    // The browser's own checks agree: the manifest and the service worker make it installable.
    const cdp = await context.newCDPSession(page);
    expect((await cdp.send('Page.getInstallabilityErrors')).installabilityErrors).toEqual([]);
    await install.click();
    // The offer is spent on its dialog; the button goes until the browser offers again.
    await expect(install).toHaveCount(0);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

test('a new deployment waits for “Update now”, then takes over', async ({ browser }) => {
  const site = mkdtempSync(join(tmpdir(), 'peerchat-site-'));
  cpSync(DIST, site, { recursive: true });
  const server = createSignalServer({ port: 0, host: '127.0.0.1', staticDir: site });
  await server.ready;
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    await page.goto(server.url);
    await nodeIdOf(page);
    await controlled(page);
    const ready = page.getByRole('status').filter({ hasText: 'A new version of Peerchat is ready' });
    await expect(ready).toHaveCount(0);

    // The next version: a service worker whose bytes differ, as every deployment's does.
    appendFileSync(join(site, 'sw.js'), '\n// the next version\n');
    await page.reload();
    await expect(ready).toBeVisible();
    // It waits: the tab still runs on the version it loaded.
    expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.waiting !== null)).toBe(true);

    // It takes over and the tab reloads into it.
    await Promise.all([page.waitForEvent('load'), ready.getByRole('button', { name: 'Update now' }).click()]);
    await nodeIdOf(page);
    expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.waiting ?? null)).toBeNull();
    await expect(ready).toHaveCount(0);
    expect(errors).toEqual([]);
  } finally {
    await context.close();
    await server.close();
    rmSync(site, { recursive: true, force: true });
  }
});

test('the shell opens offline and says it waits for peers, and goes on when the network is back', async ({ tabs }) => {
  const tab = await tabs.open();
  await controlled(tab.page);
  const offline = tab.page.getByRole('status').filter({ hasText: 'You are offline' });
  await expect(offline).toHaveCount(0);
  await tab.context.setOffline(true);
  await tab.page.reload();
  // From the service worker's cache: the app, its node id, and what it waits for.
  await expect(offline).toBeVisible();
  await expect(tab.page.getByRole('textbox', { name: 'Username' })).toBeVisible();
  await nodeIdOf(tab.page);
  await tab.context.setOffline(false);
  await expect(offline).toHaveCount(0);
  await expect(tab.page.getByRole('region', { name: 'Network' })).toContainText('Signal server: connected', { timeout: 60_000 });
});

