/**
 * Fixtures for the browser tests: every test gets its own signal server on a free port (serving
 * the built app from dist/) and a `tabs` helper that opens tabs, each in its own browser context,
 * so each has its own sessionStorage and so its own node identity.
 */
import { test as base, expect, type BrowserContext, type Page } from '@playwright/test';
import { fileURLToPath } from 'node:url';
import { createSignalServer, type SignalServer } from '../signal-server/server.ts';
import { SIGNAL_BATCH_REFUSALS } from '../shared/signal/signal-data.ts';
// `window.peerchat` and its type come from the app, which declares both: a change to the handle
// is a type error in these tests (and in bench/browser.ts, which imports it from here).
export type { PeerchatHandle } from '../web/src/debug-handle.ts';

const DIST = fileURLToPath(new URL('../dist', import.meta.url));

export interface Tab {
  context: BrowserContext;
  page: Page;
  nodeId: string;
  /** Uncaught errors the page threw; a test fails on any at teardown. */
  errors: string[];
}

export class Tabs {
  readonly all: Tab[] = [];
  constructor(
    private readonly newContext: () => Promise<BrowserContext>,
    private readonly server: SignalServer,
  ) {}

  /**
   * Opens the app in a new context; resolves once the tab shows its node id. `prepare` runs on
   * the context before the page exists (init scripts, e.g. e2e/nat/paths.ts).
   */
  async open(query = '', prepare?: (context: BrowserContext) => Promise<void>): Promise<Tab> {
    const context = await this.newContext();
    await prepare?.(context);
    const page = await context.newPage();
    const tab: Tab = { context, page, nodeId: '', errors: [] };
    page.on('pageerror', (err) => tab.errors.push(String(err)));
    // The server's Content-Security-Policy (signal-server/static.ts) must never block the app.
    page.on('console', (msg) => {
      if (msg.type() === 'error' && msg.text().includes('Content Security Policy')) tab.errors.push(msg.text());
    });
    await page.goto(`${this.server.url}${query}`);
    tab.nodeId = await nodeIdOf(page);
    this.all.push(tab);
    return tab;
  }

  async close(tab: Tab): Promise<void> {
    this.all.splice(this.all.indexOf(tab), 1);
    await tab.context.close();
  }
}

/** Waits for the Network region to show "Node ID: <40 hex>" and returns the hex. */
export async function nodeIdOf(page: Page): Promise<string> {
  const network = page.getByRole('region', { name: 'Network' });
  // Read and parsed in one go, again until it parses: the tab may move to its twin URL (a new
  // page that shows "generating…" first) between a check and a read.
  let id = '';
  await expect
    .poll(async () => (id = /Node ID: ([0-9a-f]{40})/.exec((await network.textContent().catch(() => null)) ?? '')?.[1] ?? ''))
    .toMatch(/^[0-9a-f]{40}$/);
  return id;
}

/**
 * Evaluates in the page, again if the page navigated meanwhile: a tab may move to its twin URL
 * at any moment (a new page in the same tab), and then the question is for the new page.
 */
export async function inPage<T>(page: Page, fn: () => T | Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      await page.waitForFunction(() => window.peerchat !== undefined);
      return await page.evaluate(fn);
    } catch (err) {
      const navigated = /context was destroyed|navigation|Target page/.test(String(err));
      if (!navigated || attempt >= 5 || page.isClosed()) throw err;
    }
  }
}

export function neighbours(page: Page): Promise<string[]> {
  return inPage(page, () => window.peerchat?.neighbours() ?? []);
}

/** Waits until the tab has at least n authenticated peers. */
export async function expectPeers(page: Page, n: number, timeout = 30_000): Promise<void> {
  await expect.poll(async () => (await neighbours(page)).length, { timeout, message: `at least ${n} live peers` }).toBeGreaterThanOrEqual(n);
}

export const test = base.extend<{ server: SignalServer; tabs: Tabs }>({
  server: async ({}, use) => {
    const server = createSignalServer({ port: 0, host: '127.0.0.1', staticDir: DIST });
    await server.ready;
    await use(server);
    // Every relay the tabs asked for was signaling the server takes (shared/signal/signal-data.ts).
    const { relays } = server.stats();
    const refused = SIGNAL_BATCH_REFUSALS.filter((reason) => (relays[reason] ?? 0) > 0);
    await server.close();
    expect(refused, 'relays the server refused as not what tabs send').toEqual([]);
  },
  tabs: async ({ browser, server }, use) => {
    const contexts: BrowserContext[] = [];
    const tabs = new Tabs(async () => {
      const context = await browser.newContext();
      contexts.push(context);
      return context;
    }, server);
    await use(tabs);
    const errors = tabs.all.flatMap((t) => t.errors);
    for (const c of contexts) await c.close().catch(() => {});
    expect(errors, 'uncaught errors in the pages').toEqual([]);
  },
});

export { expect };
