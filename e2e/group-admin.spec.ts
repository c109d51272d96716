/**
 * A group's admin changes who is in it (issue 16): adds a member, who gets the group and the
 * texts written after, and removes one, who is told and can no longer write; the others' member
 * lists follow. A member who is not an admin sees no such controls, and a name nobody holds is
 * refused with what the admin typed kept. A sender whose key the reader never confirmed with a
 * lookup is marked "not verified" on its bubbles until the reader looks the name up.
 */
import type { Page } from '@playwright/test';
import { expect, expectPeers, test } from './fixtures.ts';
import { groupButton, join, message, relays, send, startChat } from './user.ts';

/** The open group's member list, opened if it is not. */
async function memberList(page: Page, group: string) {
  const region = page.getByRole('region', { name: `Members of ${group}` });
  if (!(await region.isVisible())) await page.getByRole('button', { name: 'Member list' }).click();
  await expect(region).toBeVisible();
  return region;
}

/** A member's entry in the open member list, by its exact name. */
function member(page: Page, group: string, name: string) {
  return page.getByRole('region', { name: `Members of ${group}` }).getByRole('listitem').filter({ has: page.getByText(name, { exact: true }) });
}

async function joinInvitation(page: Page, group: string): Promise<void> {
  await groupButton(page, group).click({ timeout: 60_000 });
  await page.getByRole('button', { name: 'Join group' }).click();
  await expect(page.getByRole('textbox', { name: 'Message' })).toBeVisible();
}

test('a group’s admin adds and removes members, the others follow, and a non-admin has no such controls', async ({ tabs }) => {
  await relays(tabs, 2);
  const [ann, ben, cat, eve] = [await tabs.open(), await tabs.open(), await tabs.open(), await tabs.open()];
  await expectPeers(eve.page, 3);
  for (const [tab, name] of [[ann, 'ann'], [ben, 'ben'], [cat, 'cat'], [eve, 'eve']] as const) await join(tab.page, name);

  await ann.page.getByRole('button', { name: 'New group' }).click();
  await ann.page.getByRole('textbox', { name: 'Group name' }).fill('Club');
  await ann.page.getByRole('textbox', { name: 'Members' }).fill('ben cat');
  await ann.page.getByRole('button', { name: 'Create group' }).click();
  await expect(ann.page.getByRole('heading', { name: 'Club', exact: true })).toBeVisible();
  for (const m of [ben, cat]) await joinInvitation(m.page, 'Club');

  // Ben looked nobody up: cat's name on her bubble is the admin's word; ann looked her up.
  await send(cat.page, 'cat here');
  await expect(message(ben.page, 'cat here')).toContainText('cat not verified', { timeout: 60_000 });
  await expect(message(ann.page, 'cat here')).toContainText('cat', { timeout: 60_000 });
  await expect(message(ann.page, 'cat here')).not.toContainText('not verified');

  // Ben is a member, not an admin: the list, without Remove or Add.
  const benList = await memberList(ben.page, 'Club');
  await expect(member(ben.page, 'Club', 'ann')).toContainText('admin');
  await expect(benList.getByRole('button', { name: /^Remove / })).toHaveCount(0);
  await expect(benList.getByRole('textbox', { name: 'Add people' })).toHaveCount(0);
  await expect(benList.getByRole('button', { name: 'Add to group' })).toHaveCount(0);

  // A name nobody holds: refused after the lookup, nothing added, the typed text kept.
  const annList = await memberList(ann.page, 'Club');
  const addBox = annList.getByRole('textbox', { name: 'Add people' });
  await addBox.fill('eve, nobody-here');
  await annList.getByRole('button', { name: 'Add to group' }).click();
  await expect(annList.getByRole('alert')).toContainText('User not found', { timeout: 60_000 });
  await expect(addBox).toHaveValue('eve, nobody-here');
  await expect(member(ann.page, 'Club', 'eve')).toHaveCount(0);

  // Eve added: she gets the group and what is written after, not what was written before.
  await addBox.fill('eve');
  await annList.getByRole('button', { name: 'Add to group' }).click();
  await expect(member(ann.page, 'Club', 'eve')).toBeVisible({ timeout: 60_000 });
  await expect(annList.getByRole('status')).toContainText('Added eve');
  await expect(addBox).toHaveValue('');
  await send(ann.page, 'welcome eve');
  await joinInvitation(eve.page, 'Club');
  await expect(message(eve.page, 'welcome eve')).toBeVisible({ timeout: 60_000 });
  await send(eve.page, 'hello club');
  await expect(message(ben.page, 'hello club')).toContainText('eve', { timeout: 60_000 });
  await expect(member(ben.page, 'Club', 'eve')).toBeVisible();
  await expect(message(eve.page, 'cat here')).toHaveCount(0);

  // Removing asks first; dismissed, nothing changes.
  const asked: string[] = [];
  ann.page.once('dialog', (d) => void (asked.push(d.message()), d.dismiss()));
  await annList.getByRole('button', { name: 'Remove cat' }).click();
  await expect.poll(() => asked).toEqual([expect.stringContaining('Remove cat from “Club”?')]);
  await expect(member(ann.page, 'Club', 'cat')).toBeVisible();

  // Confirmed: cat is told and can no longer write; the others' lists drop her.
  ann.page.once('dialog', (d) => void d.accept());
  await annList.getByRole('button', { name: 'Remove cat' }).click();
  await expect(annList.getByRole('status')).toContainText('cat was removed');
  await expect(member(ann.page, 'Club', 'cat')).toHaveCount(0);
  await expect(cat.page.getByRole('status').filter({ hasText: 'You are no longer in this group' })).toBeVisible({ timeout: 60_000 });
  await expect(cat.page.getByRole('textbox', { name: 'Message' })).toHaveCount(0);
  await expect(member(ben.page, 'Club', 'cat')).toHaveCount(0, { timeout: 60_000 });
  await send(ann.page, 'cat has gone');
  await expect(message(ben.page, 'cat has gone')).toBeVisible({ timeout: 60_000 });
  await expect(message(eve.page, 'cat has gone')).toBeVisible({ timeout: 60_000 });
  await expect(message(cat.page, 'cat has gone')).toHaveCount(0);

  // Ben's list, open all along, never got the admin's controls.
  await expect(member(ben.page, 'Club', 'eve')).toBeVisible();
  await expect(benList.getByRole('button', { name: /^Remove / })).toHaveCount(0);
  await expect(benList.getByRole('textbox', { name: 'Add people' })).toHaveCount(0);

  // Ben looks cat up: her key is confirmed, and her bubble loses its mark; ann's keeps it.
  await startChat(ben.page, 'cat');
  await groupButton(ben.page, 'Club').click();
  await expect(message(ben.page, 'cat here')).toContainText('cat');
  await expect(message(ben.page, 'cat here')).not.toContainText('not verified');
  await expect(message(ben.page, 'welcome eve')).toContainText('ann not verified');
});
