/**
 * Senders (issue 14): a name from a first message is shown "not verified" until the user looks
 * it up, and every conversation has a safety number both users can compare.
 */
import { expect, test } from './fixtures.ts';
import type { Page } from '@playwright/test';
import { acceptRequest, aliceAndBob, expectStatus, message, send } from './user.ts';

/** The 60 digits the open conversation's "Safety number" shows, in groups of 5. */
async function safetyNumber(page: Page, peer: string): Promise<string> {
  await page.getByRole('button', { name: 'Safety number' }).click();
  const region = page.getByRole('region', { name: `Safety number with ${peer}` });
  await expect(region).toBeVisible();
  const groups = (await region.textContent())?.match(/\b\d{5}\b/g) ?? [];
  expect(groups).toHaveLength(12);
  return groups.join(' ');
}

test('a first message’s sender is “not verified” until looked up; both sides see the same safety number', async ({ tabs }) => {
  const { alice, bob } = await aliceAndBob(tabs);
  await send(alice.page, 'hello bob');
  // Bob never looked alice up: a message request, which he accepts.
  await acceptRequest(bob.page, 'alice');
  await expectStatus(alice.page, 'hello bob', 'delivered');
  // Alice looked bob up; bob only has alice's word for her name.
  await expect(alice.page.getByText('not verified')).toHaveCount(0);
  await expect(message(bob.page, 'hello bob')).toHaveCount(1);
  await expect(bob.page.getByText('not verified: claims to be alice')).toBeVisible();
  await bob.page.getByRole('button', { name: 'Look up alice' }).click();
  await expect(bob.page.getByText('not verified')).toHaveCount(0);
  await expect(bob.page.getByRole('button', { name: 'Look up alice' })).toHaveCount(0);

  const seenByAlice = await safetyNumber(alice.page, 'bob');
  const seenByBob = await safetyNumber(bob.page, 'alice');
  expect(seenByBob).toBe(seenByAlice);
});
