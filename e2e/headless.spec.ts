/**
 * Headless nodes (`npm run peer`, web/headless/) with real tabs: they hold sealed mail like any
 * tab and keep it when every tab has closed, and across a SIGKILL and a restart from their data
 * folder. Each test starts its nodes as child processes pointed at its own signal server; the
 * fixture kills whatever is still running at teardown, failed tests included, and attaches
 * their logs.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { spawnHeadless, type ChildNode } from '../web/headless/child.ts';
import { expect, expectPeers, test as base, type Tab } from './fixtures.ts';
import { acceptRequest, comeBack, expectStatus, join, openConversation, send, shownTexts, startChat } from './user.ts';

class HeadlessNodes {
  readonly all: ChildNode[] = [];
  constructor(
    private readonly signalUrl: string,
    readonly dirOf: (name: string) => string,
  ) {}

  /** Starts (or restarts, from the same folder) the node `name`; resolves once it has joined. */
  async start(name: string): Promise<ChildNode> {
    const dir = this.dirOf(name);
    mkdirSync(dir, { recursive: true });
    // Supervised as the README says to run one: the native WebRTC library's rare crash restarts
    // it from its folder (web/headless/child.ts), and the fixture reports each restart.
    const node = spawnHeadless(this.signalUrl, dir, { restartOnCrash: true });
    this.all.push(node);
    await node.waitFor(/ peer joined /);
    return node;
  }
}

const test = base.extend<{ peers: HeadlessNodes }>({
  peers: [
    async ({ server }, use, testInfo) => {
      const nodes = new HeadlessNodes(server.url, (name) => testInfo.outputPath(`headless-${name}`));
      await use(nodes);
      for (const n of nodes.all) await n.stop('SIGKILL');
      const restarts = nodes.all.reduce((sum, n) => sum + n.restarts, 0);
      if (restarts > 0) testInfo.annotations.push({ type: 'crash restarts', description: `headless nodes restarted ${restarts} time(s) after a native crash` });
      for (const [i, n] of nodes.all.entries()) await testInfo.attach(`headless-${i}.log`, { body: n.lines.join('\n'), contentType: 'text/plain' });
    },
    { scope: 'test' },
  ],
});

// A dial whose ICE failed is retried after 30 s, then 60 s (upkeep's backoff): one such failure
// between Chromium and the native library costs a minute and a half, measured in one run of five.
test.describe.configure({ timeout: 300_000 });

const TEXTS = ['first while you were away', 'second while you were away', 'third while you were away'];

/** A relay tab, alice and bob joined, alice's chat with bob open; bob closed; alice sends 3, all "stored". */
async function aliceSendsToAbsentBob(tabs: { open(): Promise<Tab> }, server: { connectedIds(): string[] }): Promise<{ alice: Tab; bob: Tab; relay: Tab }> {
  const relay = await tabs.open();
  const alice = await tabs.open();
  const bob = await tabs.open();
  for (const t of [relay, alice, bob]) await expectPeers(t.page, 3);
  await join(alice.page, 'alice');
  await join(bob.page, 'bob');
  await startChat(alice.page, 'bob');
  await bob.page.close();
  await expect.poll(() => server.connectedIds().includes(bob.nodeId)).toBe(false);
  for (const t of TEXTS) await send(alice.page, t);
  for (const t of TEXTS) await expectStatus(alice.page, t, 'stored');
  return { alice, bob, relay };
}

/** Files under `dir` whose bytes contain `text` (UTF-8), as paths. */
function filesContaining(dir: string, text: string): string[] {
  const needle = Buffer.from(text, 'utf8');
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => joinPath(e.parentPath, e.name))
    .filter((path) => readFileSync(path).includes(needle));
}

/** Waits until the node's status says it holds at least n mailbox entries. */
async function expectHeldMail(node: ChildNode, n: number): Promise<void> {
  await expect.poll(async () => (await node.status()).held.mail, { message: `a headless node holding ${n} entries` }).toBeGreaterThanOrEqual(n);
}


/** Bob returns and reads all TEXTS in order; then alice returns and sees each delivered. */
async function bothReturn(alice: Tab, bob: Tab, url: string): Promise<void> {
  const bobBack = await comeBack(bob.context, url, 'bob');
  await acceptRequest(bobBack, 'alice');
  await shownTexts(bobBack, TEXTS);
  const aliceBack = await comeBack(alice.context, url, 'alice');
  await openConversation(aliceBack, 'bob');
  for (const t of TEXTS) await expectStatus(aliceBack, t, 'delivered');
}

test('(1) every tab closes, two headless nodes stay; bob returns to all 3 in order, alice to “delivered”', async ({ tabs, server, peers }) => {
  const nodes = [await peers.start('one'), await peers.start('two')];
  const { alice, bob, relay } = await aliceSendsToAbsentBob(tabs, server);
  for (const n of nodes) await expectHeldMail(n, TEXTS.length);
  await alice.page.close();
  await tabs.close(relay);
  const headlessIds = await Promise.all(nodes.map(async (n) => (await n.status()).nodeId));
  await expect.poll(() => server.connectedIds().sort()).toEqual([...headlessIds].sort());

  await bothReturn(alice, bob, server.url);
  // The nodes pushed what they held and dropped it on bob's tombstones.
  for (const n of nodes) await expect.poll(async () => (await n.status()).held.mail).toBe(0);
});

test('(2) a headless node killed with SIGKILL while holding mail, restarted from its folder, delivers it', async ({ tabs, server, peers }) => {
  const keeper = await peers.start('keeper');
  const other = await peers.start('other');
  const { alice, bob, relay } = await aliceSendsToAbsentBob(tabs, server);
  await expectHeldMail(keeper, TEXTS.length);
  await alice.page.close();
  await tabs.close(relay);
  // Nobody else holds the mail any more: only the keeper's data folder has it.
  expect((await other.stop('SIGKILL')).signal).toBe('SIGKILL');
  expect((await keeper.stop('SIGKILL')).signal).toBe('SIGKILL');
  await expect.poll(() => server.connectedIds()).toEqual([]);

  const restarted = await peers.start('keeper');
  expect(restarted.lines.some((l) => / peer identity .*origin=loaded/.test(l))).toBe(true);
  const held = (await restarted.status()).held;
  expect(held.mail).toBeGreaterThanOrEqual(TEXTS.length);
  // alice's and bob's user records too: in a network this small every node holds every name.
  expect(held.records).toBeGreaterThanOrEqual(2);
  // It held the mail sealed: no file of its data folder has a word of the plaintext.
  expect(filesContaining(peers.dirOf('keeper'), 'while you were away')).toEqual([]);
  await bothReturn(alice, bob, server.url);
});

test('(3) cold start: alone, the join screen says it waits for a second tab or node and offers the link; a headless node lets the user in', async ({ tabs, server, peers }) => {
  const alice = await tabs.open();
  const waiting = alice.page.getByRole('status', { name: 'Waiting for a second tab or node' });
  await expect(waiting).toBeVisible();
  await expect(waiting).toContainText('second open tab or a headless node');
  await expect(waiting.getByRole('link', { name: server.url })).toHaveAttribute('href', server.url);
  await expect(waiting.getByRole('button', { name: 'Copy link' })).toBeVisible();
  // Join while alone waits, and says for what, instead of "Connecting…" and a failure.
  await alice.page.getByRole('textbox', { name: 'Username' }).fill('alice');
  await alice.page.getByRole('button', { name: 'Join' }).click();
  await expect(alice.page.getByRole('status').filter({ hasText: 'Waiting for a second open tab or node…' })).toBeVisible();
  await peers.start('first');
  await expect(alice.page.getByRole('textbox', { name: 'Find user' })).toBeVisible();
  await expect(waiting).toHaveCount(0);
  // With the node up, a first user of a new tab sees no notice and joins at once.
  const bob = await tabs.open();
  await expectPeers(bob.page, 1);
  await expect(bob.page.getByRole('status', { name: 'Waiting for a second tab or node' })).toHaveCount(0);
  await join(bob.page, 'bob');
});
