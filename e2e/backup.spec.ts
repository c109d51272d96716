/**
 * Moving to a new device (issue 16): alice exports her identity in one browser context, leaves,
 * and imports it in a new context (another browser profile): she is the same user there, with
 * her contact and history, and a message bob sent while she moved arrives. Then she downloads
 * her history and deletes the identity from that browser.
 */
import { readFile } from 'node:fs/promises';
import { expect, expectPeers, test } from './fixtures.ts';
import { expectStatus, join, message, openConversation, relays, send, shownTexts, startChat } from './user.ts';

const PASSPHRASE = 'a long passphrase for alice';

test('an identity exported in one profile and imported in another is the same user, and gets the mail sent meanwhile', async ({ tabs, server }) => {
  await relays(tabs, 4);
  const alice = await tabs.open();
  const bob = await tabs.open();
  await expectPeers(alice.page, 3);
  await expectPeers(bob.page, 3);
  await join(alice.page, 'alice');
  await join(bob.page, 'bob');
  await startChat(alice.page, 'bob');
  await send(alice.page, 'before the move');
  // Bob looks alice up first, so her message is a conversation, not a request.
  await startChat(bob.page, 'alice');
  await expectStatus(alice.page, 'before the move', 'delivered');

  // Export: the passphrase is asked, the file comes as a download.
  await alice.page.getByRole('button', { name: 'Export identity' }).click();
  await alice.page.getByRole('textbox', { name: 'Passphrase' }).fill('short');
  await alice.page.getByRole('button', { name: 'Download' }).click();
  await expect(alice.page.getByRole('alert')).toContainText('at least 8 characters');
  await alice.page.getByRole('textbox', { name: 'Passphrase' }).fill(PASSPHRASE);
  const downloading = alice.page.waitForEvent('download');
  await alice.page.getByRole('button', { name: 'Download' }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe('peerchat-alice.identity.json');
  const file = test.info().outputPath('alice.identity.json');
  await download.saveAs(file);
  await expect(alice.page.getByRole('status').filter({ hasText: 'Identity file saved' })).toBeVisible();
  const text = await readFile(file, 'utf8');
  expect(JSON.parse(text)).toMatchObject({ peerchat: 'identity', kdf: { name: 'PBKDF2', iterations: 600_000 }, cipher: { name: 'AES-GCM' } });
  expect(text).not.toContain('before the move');

  // The old device is gone; bob writes meanwhile, and the network holds it.
  await tabs.close(alice);
  await expect.poll(() => server.connectedIds().includes(alice.nodeId)).toBe(false);
  await send(bob.page, 'sent while you moved');
  await expectStatus(bob.page, 'sent while you moved', 'stored');

  // The new profile: a wrong passphrase is refused in words that say so, the right one signs in.
  const device = await tabs.open();
  await device.page.getByRole('button', { name: 'Import identity' }).click();
  await device.page.getByLabel('Identity file').setInputFiles(file);
  await device.page.getByRole('textbox', { name: 'Passphrase' }).fill('not the passphrase');
  await device.page.getByRole('button', { name: 'Import' }).click();
  await expect(device.page.getByRole('alert')).toContainText('passphrase');
  await device.page.getByRole('textbox', { name: 'Passphrase' }).fill(PASSPHRASE);
  await device.page.getByRole('button', { name: 'Import' }).click();
  await expect(device.page.getByText('Signed in as alice')).toBeVisible();
  await expect(device.page.getByRole('region', { name: 'Network' })).toContainText(`Node ID: ${alice.nodeId}`);

  await openConversation(device.page, 'bob');
  await shownTexts(device.page, ['before the move', 'sent while you moved']);
  await expect(message(device.page, 'sent while you moved')).toHaveCount(1);
  await expectStatus(bob.page, 'sent while you moved', 'delivered');

  // The history, as JSON.
  const historyDownload = device.page.waitForEvent('download');
  await device.page.getByRole('button', { name: 'Export history' }).click();
  const history = JSON.parse(await readFile(await (await historyDownload).path(), 'utf8'));
  expect(history.conversations[0].messages.map((m: { text: string }) => m.text)).toEqual(['before the move', 'sent while you moved']);

  // Deleting asks first; then this profile forgets alice.
  device.page.once('dialog', (dialog) => void dialog.accept());
  await device.page.getByRole('button', { name: 'Delete identity' }).click();
  await expect(device.page.getByRole('textbox', { name: 'Username' })).toBeVisible();
  await expect(device.page.getByRole('button', { name: /^Continue as alice/ })).toHaveCount(0);
  expect(await device.page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name))).not.toContain(`peerchat-${alice.nodeId}`);
});
