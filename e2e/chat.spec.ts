/**
 * Peerchat as users see it: real tabs, real WebRTC, IndexedDB, driven by role and accessible name
 * only (ARCHITECTURE.md, "Accessible names the UI keeps stable").
 */
import { expect, expectPeers, test } from './fixtures.ts';
import { acceptRequest, aliceAndBob, comeBack, expectStatus, join, message, openConversation, relays, request, requests, send, shownTexts, startChat } from './user.ts';

test('(1) alice and bob register, find each other and chat both ways; statuses reach delivered', async ({ tabs }) => {
  const { alice, bob } = await aliceAndBob(tabs);
  await send(alice.page, 'hello bob');
  // Bob never looked alice up: her message is a request, and gets its receipt once he accepts.
  await acceptRequest(bob.page, 'alice');
  await expectStatus(alice.page, 'hello bob', 'delivered');
  await expect(message(bob.page, 'hello bob')).toHaveCount(1);
  await send(bob.page, 'hi alice');
  await expectStatus(bob.page, 'hi alice', 'delivered');
  await expect(message(alice.page, 'hi alice')).toHaveCount(1);
  await shownTexts(alice.page, ['hello bob', 'hi alice']);
});

test('(2) bob is away: alice sends 3 and closes her tab, carol sends 1 and closes her whole browser once “stored” shows; bob returns and gets all of it in order through the relays, alice returns to “delivered”', async ({ tabs, server }) => {
  await relays(tabs, 6);
  const alice = await tabs.open();
  const carol = await tabs.open();
  const bob = await tabs.open();
  for (const tab of [alice, carol, bob]) await expectPeers(tab.page, 3);
  await join(alice.page, 'alice');
  await join(carol.page, 'carol');
  await join(bob.page, 'bob');
  await startChat(alice.page, 'bob');
  await startChat(carol.page, 'bob');
  await bob.page.close();
  // Bob's node is gone once the server and the others' channels have seen it leave.
  await expect.poll(() => server.connectedIds().includes(bob.nodeId)).toBe(false);
  const texts = ['first while you were away', 'second while you were away', 'third while you were away'];
  const fromCarol = 'from carol, whose browser is closed';
  for (const t of texts) await send(alice.page, t);
  await send(carol.page, fromCarol);
  for (const t of texts) await expectStatus(alice.page, t, 'stored');
  await expectStatus(carol.page, fromCarol, 'stored');
  // Carol's whole browser context goes at once (no page-close handlers run); alice's tab closes.
  await carol.context.close();
  await alice.page.close();

  const bobBack = await comeBack(bob.context, server.url, 'bob');
  await acceptRequest(bobBack, 'alice');
  await shownTexts(bobBack, texts);
  await acceptRequest(bobBack, 'carol');
  await shownTexts(bobBack, [fromCarol]);
  const aliceBack = await comeBack(alice.context, server.url, 'alice');
  await openConversation(aliceBack, 'bob');
  for (const t of texts) await expectStatus(aliceBack, t, 'delivered');
});

test('(3) a reload in the middle of a conversation keeps the history and the unsent outbox', async ({ tabs, server }) => {
  const { alice, bob } = await aliceAndBob(tabs);
  await send(alice.page, 'before the reload');
  await acceptRequest(bob.page, 'alice');
  await expectStatus(alice.page, 'before the reload', 'delivered');
  // Bob leaves and alice is alone: nobody can take the next message.
  await bob.page.close();
  await expect.poll(async () => (await alice.page.evaluate(() => window.peerchat!.neighbours())).length).toBe(0);
  await send(alice.page, 'waiting in the outbox');
  await alice.page.reload();
  await openConversation(alice.page, 'bob');
  await shownTexts(alice.page, ['before the reload', 'waiting in the outbox']);
  await expect(message(alice.page, 'waiting in the outbox')).toHaveAttribute('data-status', /queued|sent|failed/);
  // Bob comes back (a new node takes his place, then signs in as him): the outbox goes out.
  const bobBack = await comeBack(bob.context, server.url, 'bob');
  await expectStatus(alice.page, 'waiting in the outbox', 'delivered', 120_000);
  await openConversation(bobBack, 'alice');
  await shownTexts(bobBack, ['before the reload', 'waiting in the outbox']);
});

test('(4) two tabs of one browser context are two users and chat; one signs out and continues later', async ({ tabs, server }) => {
  const first = await tabs.open();
  const second = await first.context.newPage();
  await second.goto(server.url);
  await join(first.page, 'carol');
  await expect(second.getByRole('button', { name: /^Continue as carol \(open in another tab\)/ })).toBeDisabled();
  await join(second, 'dave');
  await startChat(second, 'carol');
  await send(second, 'same browser, other tab');
  await acceptRequest(first.page, 'dave');
  await expectStatus(second, 'same browser, other tab', 'delivered');
  await expect(message(first.page, 'same browser, other tab')).toHaveCount(1);

  // Carol signs out: the tab goes back to the join screen, from where carol can come back
  // (dave cannot be opened here: he runs in the other tab).
  await first.page.getByRole('button', { name: 'Sign out' }).click();
  await expect(first.page.getByRole('textbox', { name: 'Username' })).toBeVisible();
  await expect(first.page.getByRole('button', { name: /^Continue as dave \(open in another tab\)/ })).toBeDisabled();
  await first.page.getByRole('button', { name: /^Continue as carol($| \(|,)/ }).click();
  await openConversation(first.page, 'dave');
  await expect(message(first.page, 'same browser, other tab')).toHaveCount(1);
});

test('(5) errors: a name another key holds is “taken”, a name nobody holds is “User not found”', async ({ tabs }) => {
  const erin = await tabs.open();
  const other = await tabs.open();
  await expectPeers(erin.page, 1);
  await join(erin.page, 'erin');
  await other.page.getByRole('textbox', { name: 'Username' }).fill('erin');
  await other.page.getByRole('button', { name: 'Join' }).click();
  await expect(other.page.getByRole('alert').filter({ hasText: 'taken' })).toBeVisible();
  await expect(other.page.getByRole('textbox', { name: 'Username' })).toBeVisible();
  await erin.page.getByRole('textbox', { name: 'Find user' }).fill('nobody_here');
  await erin.page.getByRole('button', { name: 'Start chat' }).click();
  await expect(erin.page.getByRole('alert').filter({ hasText: 'User not found' })).toBeVisible();
});

test('(6) an unknown sender’s messages wait under “Message requests”, without a receipt, until Accept opens them; Block drops another', async ({ tabs }) => {
  const frank = await tabs.open();
  const gina = await tabs.open();
  const hank = await tabs.open();
  await expectPeers(frank.page, 2);
  await join(frank.page, 'frank');
  await join(gina.page, 'gina');
  await join(hank.page, 'hank');
  await startChat(gina.page, 'frank');
  await send(gina.page, 'hi frank, it is gina');
  await send(gina.page, 'second from gina');
  // Frank never looked gina up: a request, with the name she claims, not verified, and her first text.
  await expect(requests(frank.page)).toHaveAccessibleName('Message requests (1)');
  await expect(request(frank.page, 'gina')).toContainText('not verified');
  await expect(request(frank.page, 'gina')).toContainText('hi frank, it is gina');
  await expect(frank.page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: /^gina/ })).toHaveCount(0);
  // No receipt for a stranger: gina's side does not say "delivered" while it waits.
  await expect(message(gina.page, 'hi frank, it is gina')).not.toHaveAttribute('data-status', 'delivered');
  await acceptRequest(frank.page, 'gina');
  await shownTexts(frank.page, ['hi frank, it is gina', 'second from gina']);
  await expect(frank.page.getByText('not verified: claims to be gina')).toBeVisible();
  await expect(requests(frank.page)).toHaveCount(0);
  for (const t of ['hi frank, it is gina', 'second from gina']) await expectStatus(gina.page, t, 'delivered');
  // Hank writes too; frank blocks him: the request goes and his next message never shows.
  await startChat(hank.page, 'frank');
  await send(hank.page, 'buy now');
  await expect(request(frank.page, 'hank')).toBeVisible({ timeout: 60_000 });
  await request(frank.page, 'hank').getByRole('button', { name: 'Block' }).click();
  await expect(requests(frank.page)).toHaveCount(0);
  await send(hank.page, 'buy now, really');
  await expect.poll(() => frank.page.evaluate(() => window.peerchat!.stats().node['chat-request-drop-blocked'] ?? 0), { timeout: 60_000 }).toBeGreaterThanOrEqual(1);
  await expect(requests(frank.page)).toHaveCount(0);
  await expect(frank.page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: /^hank/ })).toHaveCount(0);
});
