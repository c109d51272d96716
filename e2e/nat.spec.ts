/**
 * Peerchat between homes behind real NAT routers (e2e/nat/testbed.ts): one Chromium per home,
 * the signal server and coturn on the testbed's internet, started as a deployment starts them
 * (signal-server/main.ts reading STUN_URLS, TURN_URLS, TURN_SECRET, TURN_TTL_S, TLS_CERT,
 * TLS_KEY). Each test builds its own testbed and removes it afterwards, also when it fails.
 *
 * Needs root (network namespaces), iptables, coturn and openssl; without them every test fails
 * with one line saying what is missing. CI runs as root and installs the packages (.ci/run).
 */
import { test as base, expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { expectPeers, inPage, neighbours, nodeIdOf } from './fixtures.ts';
import { selfSignedCertificate, startSignalServer, startTurn } from './nat/internet.ts';
import { selectedPairs, watchConnections } from './nat/paths.ts';
import { Testbed, testbedProblem, type NatKind } from './nat/testbed.ts';
import { acceptRequest, comeBack, expectStatus, join, message, send, startChat } from './user.ts';

interface HomeTab {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  nodeId: string;
}

/** How long two tabs behind NATs are given to connect: ICE through STUN or TURN takes seconds. */
const CONNECT_TIMEOUT = 60_000;

const test = base.extend<{ testbed: (nat: NatKind, homes: number) => Testbed; pageErrors: string[] }>({
  pageErrors: async ({}, use) => {
    const errors: string[] = [];
    await use(errors);
    expect(errors, 'uncaught errors in the pages').toEqual([]);
  },
  testbed: async ({}, use) => {
    const built: Testbed[] = [];
    await use((nat, homes) => {
      const bed = Testbed.build(nat, homes);
      built.push(bed);
      return bed;
    });
    for (const bed of built) await bed.close();
  },
});

// Once, before any test: a machine that cannot build the testbed fails the suite with one line.
test.beforeAll(() => {
  const problem = testbedProblem();
  if (problem) throw new Error(problem);
});

/**
 * Opens the app in home `n`'s browser (a Chromium in that home's namespace). Plain http from the
 * testbed's address is not a secure context; unless `trust` says how the browser should trust the
 * origin (the flag for http, a certificate's key for https), the page shows the insecure screen.
 */
async function openTab(bed: Testbed, n: number, url: string, errors: string[], trust: string[] | 'insecure' = [`--unsafely-treat-insecure-origin-as-secure=${url}`]): Promise<HomeTab> {
  const browser = await bed.browser(bed.homes[n]!.host, trust === 'insecure' ? [] : trust);
  const context = await browser.newContext();
  await watchConnections(context);
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(url);
  const nodeId = trust === 'insecure' ? '' : await nodeIdOf(page);
  return { browser, context, page, nodeId };
}

/** The tab's node counters whose names start with `prefix`, summed. */
async function counted(page: Page, prefix: string): Promise<number> {
  const { node } = await inPage(page, () => window.peerchat!.stats());
  return Object.entries(node).reduce((sum, [name, n]) => (name.startsWith(prefix) ? sum + n : sum), 0);
}

/**
 * Waits until `later` has tried `earlier` through the server and failed at ICE (failed, or a
 * check that never succeeded); then neither has a peer, and `later`'s Network panel says why in
 * words that depend on the ICE servers it had (`says`). A first dial can also fail before ICE
 * runs (under load, a signal reply that comes late): the wait is for the ICE failure itself,
 * and its message lists the tab's counters so a failure says which way the dials ended.
 */
async function expectNoConnection(earlier: HomeTab, later: HomeTab, says: RegExp): Promise<void> {
  const counters = async () => JSON.stringify((await inPage(later.page, () => window.peerchat!.stats())).node);
  await expect
    .poll(async () => (await counted(later.page, 'bootstrap-dial-failed-ICE_FAILED')) > 0 && (await counted(later.page, 'ice-failed')) + (await counted(later.page, 'ice-checking-timeout')) > 0, {
      timeout: CONNECT_TIMEOUT,
      message: 'a first dial through the server that failed at ICE',
    })
    .toBe(true)
    .catch(async (err: Error) => {
      throw new Error(`${err.message}\ncounters: ${await counters()}`);
    });
  expect(await neighbours(earlier.page)).toEqual([]);
  expect(await neighbours(later.page)).toEqual([]);
  await expect(later.page.getByTestId('peer-count')).toHaveText('0');
  await expect(later.page.getByRole('status').filter({ hasText: 'No peer could be reached' })).toHaveText(says, { timeout: CONNECT_TIMEOUT });
}

/** alice and bob join, alice sends, bob answers: both statuses reach delivered. */
async function chatBothWays(alice: HomeTab, bob: HomeTab, hello: string): Promise<void> {
  await join(alice.page, 'alice');
  await join(bob.page, 'bob');
  await startChat(alice.page, 'bob');
  await send(alice.page, hello);
  await acceptRequest(bob.page, 'alice');
  await expectStatus(alice.page, hello, 'delivered');
  await expect(message(bob.page, hello)).toHaveCount(1);
  await send(bob.page, `re: ${hello}`);
  await expectStatus(bob.page, `re: ${hello}`, 'delivered');
  await expect(message(alice.page, `re: ${hello}`)).toHaveCount(1);
}

/**
 * Every connection the page has open now took the expected path. Over STUN: this end's server
 * reflexive address, and the peer's (learned from its signaled candidate, or as prflx from its
 * first check arriving before that candidate did); never a private host address. Through TURN:
 * a relay on at least one end. Behind a symmetric NAT one side's pair is often its NAT mapping
 * (prflx) to the other's relay address, which is still through coturn and still the only path.
 */
async function expectPaths(page: Page, path: 'srflx' | 'relay'): Promise<void> {
  const pairs = await selectedPairs(page);
  expect(pairs.length).toBeGreaterThanOrEqual(1);
  for (const pair of pairs) {
    if (path === 'srflx') {
      expect(pair.local).toBe('srflx');
      expect(pair.remote).toMatch(/^(srflx|prflx)$/);
    } else {
      expect([pair.local, pair.remote], JSON.stringify(pair)).toContain('relay');
      expect([pair.local, pair.remote]).not.toContain('host');
    }
  }
}

/** The expiry of each TURN username coturn allocated a relay for, for one node id. */
function allocations(turnLog: string, nodeId: string): number[] {
  const ok = new RegExp(`user <(\\d+):${nodeId}>: incoming packet ALLOCATE processed, success`, 'g');
  return [...turnLog.matchAll(ok)].map((m) => Number(m[1]));
}

// Tagged, so a machine that cannot build the testbed can leave it out: --grep-invert @nat.
test.describe('between homes behind NAT routers', { tag: '@nat' }, () => {
  test('(1) port-restricted NATs, no ICE servers: the tabs never connect (control)', async ({ testbed, pageErrors }) => {
    const bed = testbed('port-restricted', 2);
    const server = await startSignalServer(bed);
    const alice = await openTab(bed, 0, server.url, pageErrors);
    const bob = await openTab(bed, 1, server.url, pageErrors);
    await expectNoConnection(alice, bob, /No STUN or TURN server is configured/);
  });

  test('(2) port-restricted NATs with STUN_URLS: alice and bob chat over srflx candidates', async ({ testbed, pageErrors }) => {
    const bed = testbed('port-restricted', 2);
    const turn = await startTurn(bed);
    const server = await startSignalServer(bed, { STUN_URLS: turn.stunUrl });
    const alice = await openTab(bed, 0, server.url, pageErrors);
    const bob = await openTab(bed, 1, server.url, pageErrors);
    await expectPeers(alice.page, 1, CONNECT_TIMEOUT);
    await chatBothWays(alice, bob, 'hello across two home routers');
    await expectPaths(alice.page, 'srflx');
    await expectPaths(bob.page, 'srflx');
  });

  test('(3) symmetric NATs with STUN_URLS only: no connection', async ({ testbed, pageErrors }) => {
    const bed = testbed('symmetric', 2);
    const turn = await startTurn(bed);
    const server = await startSignalServer(bed, { STUN_URLS: turn.stunUrl });
    const alice = await openTab(bed, 0, server.url, pageErrors);
    const bob = await openTab(bed, 1, server.url, pageErrors);
    await expectNoConnection(alice, bob, /configured STUN\/TURN servers \(stun:203\.0\.113\.1:3478\)\. Without a TURN server/);
  });

  test('(4) symmetric NATs with TURN_URLS and TURN_SECRET: they chat through a coturn relay', async ({ testbed, pageErrors }) => {
    const bed = testbed('symmetric', 2);
    const turn = await startTurn(bed);
    const server = await startSignalServer(bed, { TURN_URLS: turn.turnUrl, TURN_SECRET: turn.secret });
    const alice = await openTab(bed, 0, server.url, pageErrors);
    const bob = await openTab(bed, 1, server.url, pageErrors);
    await expectPeers(alice.page, 1, CONNECT_TIMEOUT);
    await chatBothWays(alice, bob, 'hello through the relay');
    await expectPaths(alice.page, 'relay');
    await expectPaths(bob.page, 'relay');
    // The server minted `<expiry>:<node id>` for each tab, and coturn allocated with exactly that.
    const now = Date.now() / 1000;
    for (const tab of [alice, bob]) {
      const expiries = allocations(turn.service.log(), tab.nodeId);
      expect(expiries.length, `coturn allocations for ${tab.nodeId}`).toBeGreaterThanOrEqual(1);
      for (const expiry of expiries) expect(expiry).toBeGreaterThan(now);
    }
    expect(server.service.log()).not.toContain(turn.secret);
  });

  test('(5) a TURN credential past its expiry is renewed, and a new connection still relays', async ({ testbed, pageErrors }) => {
    const ttlS = 20;
    const bed = testbed('symmetric', 3);
    const turn = await startTurn(bed);
    const server = await startSignalServer(bed, { TURN_URLS: turn.turnUrl, TURN_SECRET: turn.secret, TURN_TTL_S: String(ttlS) });
    const alice = await openTab(bed, 0, server.url, pageErrors);
    const bob = await openTab(bed, 1, server.url, pageErrors);
    await expectPeers(alice.page, 1, CONNECT_TIMEOUT);
    const [firstExpiry] = allocations(turn.service.log(), alice.nodeId);
    expect(firstExpiry).toBeDefined();
    // Renewed at 80% of its lifetime (signal-client.ts), and then the first one runs out.
    await expect.poll(() => inPage(alice.page, () => window.peerchat!.stats().signal['signal-ice-renew'] ?? 0), { timeout: 2 * ttlS * 1000 }).toBeGreaterThanOrEqual(1);
    await expect.poll(() => Date.now() / 1000, { timeout: 2 * ttlS * 1000, message: 'the first credential expired' }).toBeGreaterThan(firstExpiry! + 1);

    const carol = await openTab(bed, 2, server.url, pageErrors);
    await expect.poll(() => neighbours(alice.page), { timeout: CONNECT_TIMEOUT }).toContain(carol.nodeId);
    // Read from coturn's log as it arrives on a pipe: wait for the line rather than read once.
    const renewed = () => allocations(turn.service.log(), alice.nodeId).filter((expiry) => expiry > firstExpiry!).length;
    await expect.poll(renewed, { timeout: 15_000, message: 'alice allocated with a renewed credential' }).toBeGreaterThanOrEqual(1);
    await expectPaths(carol.page, 'relay');
    await expect.poll(() => neighbours(bob.page)).toContain(alice.nodeId);
  });

  test('(6) offline delivery across NATs: bob is away, alice sends and leaves, bob returns and receives', async ({ testbed, pageErrors }) => {
    const bed = testbed('port-restricted', 3);
    const turn = await startTurn(bed);
    const server = await startSignalServer(bed, { STUN_URLS: turn.stunUrl });
    // A third home's tab, signed in as no one: a relay that holds the mail.
    const relay = await openTab(bed, 2, server.url, pageErrors);
    const alice = await openTab(bed, 0, server.url, pageErrors);
    const bob = await openTab(bed, 1, server.url, pageErrors);
    for (const tab of [relay, alice, bob]) await expectPeers(tab.page, 2, CONNECT_TIMEOUT);
    await join(alice.page, 'alice');
    await join(bob.page, 'bob');
    await startChat(alice.page, 'bob');
    await bob.page.close();
    await expect.poll(() => neighbours(alice.page), { timeout: CONNECT_TIMEOUT }).not.toContain(bob.nodeId);
    const text = 'sent while you were away, across three routers';
    await send(alice.page, text);
    // One relay is fewer holders than "stored" needs (STORED_QUORUM), so alice's status stays
    // "sent"; what matters is that the relay, behind its own router, has committed it.
    await expect.poll(() => inPage(relay.page, () => window.peerchat!.stats().node['mailbox-stored'] ?? 0), { timeout: CONNECT_TIMEOUT }).toBeGreaterThanOrEqual(1);
    await alice.page.close();

    const bobBack = await comeBack(bob.context, server.url, 'bob');
    // A failure says where the mail stopped: what the relay held and pushed, what bob fetched.
    await acceptRequest(bobBack, 'alice', CONNECT_TIMEOUT).catch(async (err: Error) => {
      const state = async (page: Page) => JSON.stringify({ neighbours: await neighbours(page), counters: (await inPage(page, () => window.peerchat!.stats())).node });
      throw new Error(`${err.message}\nrelay: ${await state(relay.page)}\nbob: ${await state(bobBack)}`);
    });
    await expect(message(bobBack, text)).toHaveCount(1, { timeout: CONNECT_TIMEOUT });
  });

  test('(7) HTTPS from TLS_CERT and TLS_KEY: the app loads over https, joins over wss, and chats', async ({ testbed, pageErrors }) => {
    const bed = testbed('port-restricted', 2);
    const turn = await startTurn(bed);
    const cert = selfSignedCertificate(bed);
    const server = await startSignalServer(bed, { STUN_URLS: turn.stunUrl, TLS_CERT: cert.certPath, TLS_KEY: cert.keyPath });
    expect(server.url).toMatch(/^https:\/\//);
    // The browser trusts this one certificate, as a user's would once it is installed; no flag
    // makes the origin secure: https does.
    const trust = [`--ignore-certificate-errors-spki-list=${cert.spki}`];
    const alice = await openTab(bed, 0, server.url, pageErrors, trust);
    const bob = await openTab(bed, 1, server.url, pageErrors, trust);
    expect(await alice.page.evaluate(() => window.isSecureContext)).toBe(true);
    await expect.poll(() => inPage(alice.page, () => window.peerchat!.signalState)).toBe('ready');
    await expectPeers(alice.page, 1, CONNECT_TIMEOUT);
    await chatBothWays(alice, bob, 'hello over https');
  });

  test('(8) opened over plain http from another address, the app shows why it cannot run', async ({ testbed, pageErrors }) => {
    const bed = testbed('port-restricted', 1);
    const server = await startSignalServer(bed);
    const tab = await openTab(bed, 0, server.url, pageErrors, 'insecure');
    await expect(tab.page.getByRole('heading', { name: 'Peerchat cannot run here' })).toBeVisible();
    await expect(tab.page.getByRole('alert')).toContainText('plain http at 203.0.113.1');
    await expect(tab.page.getByRole('listitem').filter({ hasText: 'TLS_CERT and TLS_KEY' })).toBeVisible();
    expect(await tab.page.evaluate(() => window.peerchat)).toBeUndefined();
  });
});
