/**
 * Accessibility (issue 16's quality bar): axe-core finds no serious or critical violation on
 * each screen, in the light and the dark scheme the app follows.
 */
import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { expect, test } from './fixtures.ts';
import { aliceAndBob, lookUpWithHops, message, request, send } from './user.ts';

/**
 * The serious and critical violations on the page as it is, in the light and then the dark
 * scheme, one line each: one set of tabs serves both schemes (a test each cost CI a whole setup).
 */
async function violations(page: Page): Promise<string[]> {
  const found: string[] = [];
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    const { violations } = await new AxeBuilder({ page }).analyze();
    for (const v of violations) {
      if (v.impact === 'serious' || v.impact === 'critical') found.push(`${colorScheme}: ${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    }
  }
  return found;
}

test('every screen passes axe in the light and the dark scheme', async ({ tabs }) => {
  const { alice, bob } = await aliceAndBob(tabs);
  // The join screen, in a tab nobody signed in with yet.
  const newcomer = await tabs.open();
  await expect(newcomer.page.getByRole('textbox', { name: 'Username' })).toBeVisible();
  expect(await violations(newcomer.page), 'join screen').toEqual([]);
  await newcomer.page.getByRole('button', { name: 'Import identity' }).click();
  await newcomer.page.getByRole('button', { name: 'Import' }).click();
  await expect(newcomer.page.getByRole('alert')).toBeVisible();
  expect(await violations(newcomer.page), 'import identity, with its error').toEqual([]);
  // A conversation with a message, and its safety number.
  await send(alice.page, 'hello bob');
  expect(await violations(alice.page), 'conversation').toEqual([]);
  await alice.page.getByRole('button', { name: 'Safety number' }).click();
  expect(await violations(alice.page), 'safety number').toEqual([]);
  await alice.page.getByRole('button', { name: 'Export identity' }).click();
  await alice.page.getByRole('button', { name: 'Download' }).click();
  await expect(alice.page.getByRole('alert')).toContainText('at least 8 characters');
  expect(await violations(alice.page), 'export identity, with its error').toEqual([]);
  // The Network panel's id ring after a lookup: its path drawn and listed hop by hop.
  await lookUpWithHops(alice.page);
  expect(await violations(alice.page), 'network panel after a lookup').toEqual([]);
  // The STUN and TURN forms (their own chunk, loaded as they open): a refused address, then one
  // the panel lists for new connections.
  const network = alice.page.getByRole('region', { name: 'Network' });
  await network.getByRole('button', { name: 'STUN and TURN servers' }).click();
  const stun = network.getByRole('textbox', { name: 'STUN server' });
  await stun.fill('not a server');
  await network.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(network.getByRole('alert')).toBeVisible();
  expect(await violations(alice.page), 'STUN and TURN servers, with an error').toEqual([]);
  await stun.fill('stun:stun.example.org:3478');
  await network.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(network.getByTestId('ice-servers')).toContainText('stun:stun.example.org:3478');
  // A message request, unverified.
  await expect(request(bob.page, 'alice')).toBeVisible({ timeout: 60_000 });
  expect(await violations(bob.page), 'message requests').toEqual([]);
  // A group: its creator's view with the member list, and the invitation its member gets.
  await alice.page.getByRole('button', { name: 'New group' }).click();
  await alice.page.getByRole('textbox', { name: 'Group name' }).fill('Pair');
  await alice.page.getByRole('textbox', { name: 'Members' }).fill('bob');
  await alice.page.getByRole('button', { name: 'Create group' }).click();
  await alice.page.getByRole('button', { name: 'Member list' }).click();
  await send(alice.page, 'hello group');
  // Alice made it: her list has the admin's controls (their own chunk, loaded as it opens).
  const addPeople = alice.page.getByRole('textbox', { name: 'Add people' });
  await expect(addPeople).toBeVisible();
  await expect(alice.page.getByRole('button', { name: 'Remove bob' })).toBeVisible();
  expect(await violations(alice.page), 'group with its member list and admin controls').toEqual([]);
  // A name already in the group is refused at once, before any lookup.
  await addPeople.fill('bob');
  await alice.page.getByRole('button', { name: 'Add to group' }).click();
  await expect(alice.page.getByRole('region', { name: 'Members of Pair' }).getByRole('alert')).toContainText('already in the group');
  expect(await violations(alice.page), 'add people, with its error').toEqual([]);
  await bob.page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: /^Pair,/ }).click({ timeout: 60_000 });
  await expect(bob.page.getByRole('button', { name: 'Join group' })).toBeVisible();
  // Bob never looked alice up: her name on the bubble is marked.
  await expect(message(bob.page, 'hello group')).toContainText('alice not verified');
  expect(await violations(bob.page), 'group invitation, a sender not verified').toEqual([]);
});
