/**
 * Keyboard only (issue 16's quality bar): a user who never touches the mouse joins, finds a
 * user, writes, makes a group and reaches its admin's controls; every control it lands on shows
 * the focus ring.
 */
import type { Page } from '@playwright/test';
import { expect, expectPeers, test } from './fixtures.ts';
import { join, message } from './user.ts';

/** Presses Tab (or Shift+Tab) until the focused element has `name` as its name; fails after 60 presses. */
async function tabTo(page: Page, name: string, key: 'Tab' | 'Shift+Tab' = 'Tab'): Promise<void> {
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press(key);
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el) return null;
      const label = el.getAttribute('aria-label') ?? (el.id ? document.querySelector(`label[for="${el.id}"]`)?.textContent : null) ?? el.textContent;
      return { name: label?.trim() ?? '', ring: getComputedStyle(el).outlineStyle };
    });
    if (focused?.name === name) {
      // The focus ring (app.css :focus-visible) is drawn on what the keyboard reached.
      expect(focused.ring, `focus ring on ${name}`).not.toBe('none');
      return;
    }
  }
  throw new Error(`Tab never reached “${name}”`);
}

test('joining, finding a user, writing, making a group and managing it with the keyboard alone, the focus ring always shown', async ({ tabs }) => {
  const bob = await tabs.open();
  const alice = await tabs.open();
  await expectPeers(alice.page, 1);
  await join(bob.page, 'bob');
  const page = alice.page;

  // The username field has the focus on arrival.
  await expect(page.getByRole('textbox', { name: 'Username' })).toBeFocused();
  await page.keyboard.type('alice');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('textbox', { name: 'Find user' })).toBeVisible();

  await tabTo(page, 'Find user');
  await page.keyboard.type('bob');
  await page.keyboard.press('Enter');
  // Opening a conversation moves the keyboard to its message box.
  await expect(page.getByRole('textbox', { name: 'Message' })).toBeFocused();
  await page.keyboard.type('typed, never clicked');
  await page.keyboard.press('Enter');
  await expect(message(page, 'typed, never clicked')).toBeVisible();

  await tabTo(page, 'New group');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('textbox', { name: 'Group name' })).toBeFocused();
  await page.keyboard.type('Keys');
  await page.keyboard.press('Tab');
  await expect(page.getByRole('textbox', { name: 'Members' })).toBeFocused();
  await page.keyboard.type('bob');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'Keys', exact: true })).toBeVisible();
  await expect(page.getByRole('textbox', { name: 'Message' })).toBeFocused();
  await page.keyboard.type('to the group');
  await page.keyboard.press('Enter');
  await expect(message(page, 'to the group')).toBeVisible();

  // Back up from the message box to the group's header.
  await tabTo(page, 'Member list', 'Shift+Tab');
  await page.keyboard.press('Enter');
  const members = page.getByRole('region', { name: 'Members of Keys' });
  await expect(members).toContainText('bob');

  // The admin's controls: Remove asks first (dismissed here), and Add people submits on Enter.
  await expect(members.getByRole('button', { name: 'Remove bob' })).toBeVisible();
  await tabTo(page, 'Remove bob');
  const asked: string[] = [];
  page.once('dialog', (d) => void (asked.push(d.message()), d.dismiss()));
  await page.keyboard.press('Enter');
  await expect.poll(() => asked).toEqual([expect.stringContaining('Remove bob from “Keys”?')]);
  await expect(members.getByRole('button', { name: 'Remove bob' })).toBeVisible();
  await tabTo(page, 'Add people');
  await page.keyboard.type('nobody-here');
  await page.keyboard.press('Enter');
  await expect(members.getByRole('alert')).toContainText('User not found', { timeout: 60_000 });
  await expect(page.getByRole('textbox', { name: 'Add people' })).toBeFocused();
  await expect(page.getByRole('textbox', { name: 'Add people' })).toHaveValue('nobody-here');
  await tabTo(page, 'Add to group');
});
