/**
 * Groups in the browser (issue 16): four members, one offline while the others talk. Its
 * messages reach it when it returns, each once, with its sender's name, and the sender's
 * message counts the members' copies until all are delivered.
 */
import { expect, expectPeers, test } from './fixtures.ts';
import { comeBack, groupButton, join, log, message, relays, send, shownTexts } from './user.ts';

test('a 4-member group where one member is offline during the conversation', async ({ tabs, server }) => {
  await relays(tabs, 2);
  const [ann, ben, cat, dan] = [await tabs.open(), await tabs.open(), await tabs.open(), await tabs.open()];
  await expectPeers(dan.page, 3);
  for (const [tab, name] of [[ann, 'ann'], [ben, 'ben'], [cat, 'cat'], [dan, 'dan']] as const) await join(tab.page, name);

  // Ann makes the group; a name nobody holds is refused first, with nothing sent.
  await ann.page.getByRole('button', { name: 'New group' }).click();
  await ann.page.getByRole('textbox', { name: 'Group name' }).fill('Trip');
  await ann.page.getByRole('textbox', { name: 'Members' }).fill('ben, cat nobody-here');
  await ann.page.getByRole('button', { name: 'Create group' }).click();
  await expect(ann.page.getByRole('alert')).toContainText('User not found');
  await ann.page.getByRole('textbox', { name: 'Members' }).fill('ben, cat dan');
  await ann.page.getByRole('button', { name: 'Create group' }).click();
  await expect(ann.page.getByRole('heading', { name: 'Trip', exact: true })).toBeVisible();

  // The others never looked ann up: an invitation each, joined.
  for (const member of [ben, cat, dan]) {
    await groupButton(member.page, 'Trip').click({ timeout: 60_000 });
    await member.page.getByRole('button', { name: 'Join group' }).click();
    await expect(member.page.getByRole('textbox', { name: 'Message' })).toBeVisible();
  }

  // Dan leaves; the others talk.
  await dan.page.close();
  await expect.poll(() => server.connectedIds().includes(dan.nodeId)).toBe(false);
  await send(ann.page, 'who brings the tent?');
  await send(ben.page, 'I do');
  await send(cat.page, 'food is mine');
  await shownTexts(ann.page, ['who brings the tent?', 'I do', 'food is mine']);
  await expect(message(ann.page, 'I do')).toContainText('ben');
  // Ann looked ben up when she made the group: his name on the bubble is confirmed.
  await expect(message(ann.page, 'I do')).not.toContainText('not verified');
  await expect(message(ann.page, 'who brings the tent?')).toContainText('Delivered to 2 of 3', { timeout: 60_000 });
  await expect(message(ann.page, 'who brings the tent?')).toHaveAttribute('data-status', /stored|sent/);

  // Dan returns: everything once, each with its sender, in order; ann's copy count completes.
  const danBack = await comeBack(dan.context, server.url, 'dan');
  await groupButton(danBack, 'Trip').click();
  await shownTexts(danBack, ['who brings the tent?', 'I do', 'food is mine']);
  for (const [text, sender] of [['who brings the tent?', 'ann'], ['I do', 'ben'], ['food is mine', 'cat']]) {
    await expect(message(danBack, text!)).toHaveCount(1);
    await expect(message(danBack, text!)).toContainText(sender!);
    // Dan never looked anyone up: each name is the admin's word for the key that signed.
    await expect(message(danBack, text!)).toContainText(`${sender} not verified`);
  }
  await expect(message(ann.page, 'who brings the tent?')).toHaveAttribute('data-status', 'delivered', { timeout: 60_000 });
  await expect(message(ann.page, 'who brings the tent?')).toContainText('Delivered to all 3');
  await expect(log(danBack).getByRole('listitem')).toHaveCount(3);
});
